import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/**
 * Addresses no webhook receiver has: link-local (169.254.0.0/16, where clouds serve instance
 * metadata and credentials; fe80::/10), "this network" (0.0.0.0/8, ::) and multicast. A tenant's
 * endpoint aimed there is a request forgery, not a receiver. Loopback and private networks stay
 * allowed: a receiver beside the gateway is a normal single-operator setup.
 */
export function forbiddenAddress(address: string): boolean {
  const v4 = isIP(address) === 4 ? address : /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (v4) {
    const [a, b] = v4.split('.').map(Number) as [number, number];
    return a === 0 || (a === 169 && b === 254) || (a >= 224 && a <= 239) || a === 255;
  }
  if (isIP(address) === 6) {
    const first = parseInt(address.split(':')[0] || '0', 16);
    return address === '::' || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00;
  }
  return false;
}

/** The URL's host, unbracketed (an IPv6 literal comes as `[::1]`); undefined if it is no URL. */
function hostOf(url: string): string | undefined {
  return URL.canParse(url) ? new URL(url).hostname.replace(/^\[|\]$/g, '') : undefined;
}

/**
 * A literal address in the URL that no receiver has (checked when an endpoint is created). Text
 * that is no URL is not this check's to refuse (the schema's URL check does, beside it).
 */
export function forbiddenLiteral(url: string): boolean {
  const host = hostOf(url);
  return host !== undefined && isIP(host) !== 0 && forbiddenAddress(host);
}

/**
 * Why the URL must not be called now, if it must not: its host resolves to an address no
 * receiver has (checked before each delivery: a name can be pointed there after creation).
 */
export async function refusedDestination(url: string): Promise<string | undefined> {
  const host = hostOf(url);
  if (host === undefined) return undefined;
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
  const bad = addresses.find(forbiddenAddress);
  return bad ? `${host} resolves to ${bad}, a link-local, unspecified or multicast address no webhook receiver has` : undefined;
}
