// Registered signing keys of nodes, read once per node: a node id derives from its signing key, so the key never changes under its id.
import { fromHex } from '../crypto/bytes.ts';
import type { Repository } from '../repository/index.ts';

/** The signing public key of `nodeId`, or undefined for a node that is not registered. */
export function createSignKeyCache(repository: Pick<Repository, 'getNode'>): (nodeId: string) => Promise<Uint8Array | undefined> {
  const keys = new Map<string, Uint8Array>();
  return async (nodeId) => {
    let key = keys.get(nodeId);
    if (!key) {
      const node = await repository.getNode(nodeId);
      if (!node) return undefined;
      key = fromHex(node.signPublicKey, 32);
      keys.set(nodeId, key);
    }
    return key;
  };
}
