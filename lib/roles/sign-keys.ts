// The node records roles trust: one counts only when its registration binds it (the id derives from
// its signing key, which signed its VRF key and name; protocol v2), so a store writer who swaps a
// node's keys makes it unknown, never someone else. Signing keys are read once per node.
import { fromHex } from '../crypto/bytes.ts';
import type { Logger } from '../logger.ts';
import { findRegistrationProblem } from '../protocol/node-registration.ts';
import type { Repository } from '../repository/index.ts';
import type { NodeRecord } from '../repository/types.ts';

/**
 * True when `node`, stored under `nodeId`, is that node's record and its registration verifies;
 * otherwise logs an error (the registry was written past the API) and the caller treats the node
 * as unknown.
 */
export function isNodeRecordBound(nodeId: string, node: NodeRecord, logger: Pick<Logger, 'error'>): boolean {
  const problem = node.id === nodeId ? findRegistrationProblem(node) : 'id_mismatch';
  if (problem) logger.error({ nodeId, problem }, 'node record does not verify; treated as unknown');
  return problem === null;
}

/**
 * The signing public key of `nodeId`, or undefined for a node that is not registered or whose record
 * does not verify. A verified key is kept: the id derives from it, so it never changes under its id.
 */
export function createSignKeyCache(repository: Pick<Repository, 'getNode'>, logger: Pick<Logger, 'error'>): (nodeId: string) => Promise<Uint8Array | undefined> {
  const keys = new Map<string, Uint8Array>();
  return async (nodeId) => {
    let key = keys.get(nodeId);
    if (!key) {
      const node = await repository.getNode(nodeId);
      if (!node || !isNodeRecordBound(nodeId, node, logger)) return undefined;
      key = fromHex(node.signPublicKey, 32);
      keys.set(nodeId, key);
    }
    return key;
  };
}
