// What a run reads, cached on the node: code blobs (content-addressed, so never stale); projects are
// cached briefly by project-loader.ts.
import { UnrecoverableError } from 'bullmq';
import { utf8 } from '../../crypto/bytes.ts';
import { computeContentId } from '../../crypto/content-id.ts';
import type { Repository } from '../../repository/index.ts';

const CODE_CACHE_LIMIT = 256;

/** The stored code does not hash to its content id: whoever can write the store swapped it. */
export class CodeMismatchError extends Error {
  override readonly name = 'CodeMismatchError';
}

/**
 * Loads code by content id, keeping the last 256. A missing blob can never run (UnrecoverableError);
 * a blob whose bytes do not hash to its id is refused (CodeMismatchError) and never cached: a node
 * signs only for the code the request names.
 */
export function createCodeLoader(repository: Pick<Repository, 'getCode'>): (cid: string) => Promise<string> {
  const cache = new Map<string, string>();
  return async (cid) => {
    let code = cache.get(cid);
    if (code === undefined) {
      const stored = await repository.getCode(cid);
      if (stored === null) throw new UnrecoverableError(`code ${cid} is missing`);
      if (computeContentId(utf8(stored)) !== cid) throw new CodeMismatchError(`the code stored under ${cid} does not match it`);
      code = stored;
      if (cache.size >= CODE_CACHE_LIMIT) cache.delete(cache.keys().next().value!);
      cache.set(cid, code);
    }
    return code;
  };
}
