import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleAuth } from '../admin/console-session.ts';

/**
 * The operator console: a static page and its ES modules, served from memory on the admin
 * port. It is a client of the /v1 API like any other (signed in with a session cookie), so
 * nothing here knows about stations or wallets. Third-party modules come straight from
 * node_modules (a fixed list, nothing else is reachable): no build step, no CDN.
 */
const PUBLIC_DIR = fileURLToPath(new URL('./public', import.meta.url));
const require = createRequire(import.meta.url);

/** Browser modules taken from installed packages, by the name the page's import map uses. */
const VENDOR: Record<string, [pkg: string, file: string]> = {
  'preact.mjs': ['preact', 'dist/preact.mjs'],
  'preact-hooks.mjs': ['preact', 'hooks/dist/hooks.mjs'],
  'htm.mjs': ['htm', 'dist/htm.mjs'],
  'uplot.mjs': ['uplot', 'dist/uPlot.esm.js'],
  'uplot.css': ['uplot', 'dist/uPlot.min.css'],
};

/** An installed package's folder (its exports may not expose package.json or these files). */
function packageDir(name: string): string {
  let dir = path.dirname(require.resolve(name));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`package ${name} not found`);
    dir = up;
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(file: string): Asset {
  const body = readFileSync(file);
  return {
    body,
    type: TYPES[path.extname(file)] ?? 'application/octet-stream',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
  };
}

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full, `${prefix}${name}/`) : [`${prefix}${name}`];
  });
}

/** The page's one inline script is its import map; the policy allows exactly that script. */
function securityHeaders(html: string): Record<string, string> {
  const inline = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html);
  const hash = inline ? `'sha256-${createHash('sha256').update(inline[1]!).digest('base64')}'` : '';
  return {
    'content-security-policy': [
      "default-src 'none'",
      `script-src 'self' ${hash}`.trim(),
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "form-action 'self'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
}

function send(req: FastifyRequest, reply: FastifyReply, a: Asset, headers: Record<string, string> = {}) {
  reply.headers({ ...headers, 'cache-control': 'no-cache', etag: a.etag, 'x-content-type-options': 'nosniff' });
  if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
  return reply.type(a.type).send(a.body);
}

export function consoleRoutes(auth: ConsoleAuth): FastifyPluginAsync {
  return async (app) => {
    const page = asset(path.join(PUBLIC_DIR, 'index.html'));
    const pageHeaders = securityHeaders(page.body.toString('utf8'));
    const files = new Map(
      filesUnder(PUBLIC_DIR)
        .filter((f) => f !== 'index.html')
        .map((f) => [f, asset(path.join(PUBLIC_DIR, f))]),
    );
    const vendor = new Map(Object.entries(VENDOR).map(([name, [pkg, file]]) => [name, asset(path.join(packageDir(pkg), file))]));

    await app.register(auth.routes());

    const index = { schema: { hide: true } };
    app.get('/console', index, (req, reply) => send(req, reply, page, pageHeaders));
    app.get('/console/app/*', index, (req, reply) => {
      const a = files.get((req.params as { '*': string })['*']);
      return a ? send(req, reply, a) : reply.callNotFound();
    });
    app.get('/console/vendor/:name', index, (req, reply) => {
      const a = vendor.get((req.params as { name: string }).name);
      return a ? send(req, reply, a) : reply.callNotFound();
    });
  };
}
