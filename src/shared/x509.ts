/**
 * @peculiar/x509 with Node's WebCrypto, loaded on first use (a gateway that never signs a
 * certificate never loads it). Its dependency injection needs the reflect-metadata polyfill.
 */
import { webcrypto } from 'node:crypto';

export type X509 = typeof import('@peculiar/x509');

let library: Promise<X509> | undefined;

export function x509(): Promise<X509> {
  library ??= (async () => {
    await import('reflect-metadata');
    const lib = await import('@peculiar/x509');
    lib.cryptoProvider.set(webcrypto as unknown as Parameters<typeof lib.cryptoProvider.set>[0]);
    return lib;
  })();
  return library;
}
