// What one consensus process knows of a voting request's votes: those the store answered with, then
// those whose records it sent since (its records go out on one connection, so Redis applies them in
// the order sent). From that list a vote can tell, before its record is sent, whether it will be the
// deciding one; the record script checks the list against the store, so a wrong guess only costs the
// separate transition it would have saved.
import type { VoteRecording } from '../../repository/requests.ts';
import type { StoredVote } from '../../repository/types.ts';
import { createLruMap } from '../../sandbox/lru-map.ts';

/** A vote as foreseen: its fields without the logs (nothing decides on them), and what it weighs. */
type Known = { readonly vote: StoredVote; readonly bytes: number };

/** What a vote's fixed fields weigh besides its value (ids, hashes, signature, JSON punctuation), rounded up. */
const VOTE_OVERHEAD_BYTES = 512;

export interface VoteForesightOptions {
  /** Requests kept at most (the newest). */
  readonly maxRequests: number;
  /** Bytes kept at most over every request; a request whose votes weigh more than a sixteenth of it is not kept. */
  readonly maxBytes: number;
}

export interface VoteForesight {
  /**
   * The votes the store will hold once this vote's record (about to be sent) is applied, if nothing
   * else records one meanwhile: the known ones, then this one; the vote is known from now on.
   * Undefined when this node's vote is known already (a redelivery), or the request weighs too much to keep.
   */
  sending(requestId: string, vote: Omit<StoredVote, 'seq'>, valueBytes: number): StoredVote[] | undefined;
  /** The store's answer to a record of this process: the votes it held, then those sent since. */
  recorded(requestId: string, recording: VoteRecording): void;
  /** Voting on the request closed (or the process no longer knows it): drop what is known. */
  forget(requestId: string): void;
}

export function createVoteForesight(options: VoteForesightOptions): VoteForesight {
  const maxRequestBytes = options.maxBytes / 16;
  const weigh = (known: readonly Known[]) => known.reduce((bytes, k) => bytes + k.bytes, 0);
  const requests = createLruMap<string, readonly Known[]>({ maxEntries: options.maxRequests, maxBytes: options.maxBytes, sizeOf: weigh });
  const keep = (requestId: string, known: readonly Known[]) => {
    if (weigh(known) > maxRequestBytes) requests.delete(requestId);
    else requests.set(requestId, known);
  };
  const withoutLogs = ({ logs: _logs, ...vote }: StoredVote): StoredVote => vote;

  return {
    sending(requestId, vote, valueBytes) {
      const known = requests.get(requestId) ?? [];
      if (known.some((k) => k.vote.nodeId === vote.nodeId)) return undefined;
      const next = [...known, { vote: withoutLogs({ ...vote, seq: known.length }), bytes: valueBytes + VOTE_OVERHEAD_BYTES }];
      keep(requestId, next);
      return requests.get(requestId) === next ? next.map((k) => k.vote) : undefined;
    },
    recorded(requestId, recording) {
      if (recording.outcome !== 'recorded' || recording.agreement) {
        requests.delete(requestId);
        return;
      }
      // The store's votes as it answered (each weighing its share of their stored text), then those of
      // this process's records not among them yet: sent after this one, so applied after it.
      const stored = recording.votes;
      const storedIds = new Set(stored.map((vote) => vote.nodeId));
      const share = stored.length > 0 ? recording.votesLength / stored.length : 0;
      const pending = (requests.get(requestId) ?? []).filter((k) => !storedIds.has(k.vote.nodeId));
      keep(requestId, [
        ...stored.map((vote) => ({ vote: withoutLogs(vote), bytes: share })),
        ...pending.map((k, i) => ({ vote: { ...k.vote, seq: stored.length + i }, bytes: k.bytes })),
      ]);
    },
    forget: (requestId) => requests.delete(requestId),
  };
}
