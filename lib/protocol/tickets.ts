// Tickets: each node's VRF output for a round (docs/protocol.md, "Tickets"); proven once per node per round.
import { bytesEqual, concatBytes, u64be, utf8 } from '../crypto/bytes.ts';
import { proofToHash, prove, verify } from '../crypto/ecvrf.ts';
import type { VrfRunner } from '../crypto/vrf-runner.ts';

const TICKET_TAG = utf8('gw/ticket/v1');

/** A node's ticket for one round: the VRF output `beta` (64 bytes) and its proof (80 bytes). */
export interface Ticket {
  readonly nodeId: string;
  readonly beta: Uint8Array;
  readonly proof: Uint8Array;
}

/** `"gw/ticket/v1" || u64be(r) || seed_r`. */
export function computeTicketAlpha(round: number, roundSeed: Uint8Array): Uint8Array {
  if (roundSeed.length !== 32) throw new RangeError('a round seed is 32 bytes');
  return concatBytes(TICKET_TAG, u64be(round), roundSeed);
}

/** Proves a node's ticket for round `round` with its VRF secret key. */
export function createTicket(nodeId: string, vrfSecretKey: Uint8Array, round: number, roundSeed: Uint8Array): Ticket {
  const proof = prove(vrfSecretKey, computeTicketAlpha(round, roundSeed));
  return { nodeId, beta: proofToHash(proof), proof };
}

/** createTicket with the proof made by `vrf` (a worker thread for the roles). */
export async function createTicketWith(vrf: VrfRunner, nodeId: string, vrfSecretKey: Uint8Array, round: number, roundSeed: Uint8Array): Promise<Ticket> {
  const { proof, beta } = await vrf.prove(vrfSecretKey, computeTicketAlpha(round, roundSeed));
  return { nodeId, beta, proof };
}

/** True when the proof verifies under the node's VRF public key and yields exactly `ticket.beta`. */
export function verifyTicket(vrfPublicKey: Uint8Array, round: number, roundSeed: Uint8Array, ticket: Ticket): boolean {
  if (!isTicketRound(round, roundSeed)) return false;
  return isTicketOutput(verify(vrfPublicKey, ticket.proof, computeTicketAlpha(round, roundSeed)), ticket);
}

/** verifyTicket with the proof checked by `vrf` (a worker thread for the roles). */
export async function verifyTicketWith(vrf: VrfRunner, vrfPublicKey: Uint8Array, round: number, roundSeed: Uint8Array, ticket: Ticket): Promise<boolean> {
  if (!isTicketRound(round, roundSeed)) return false;
  return isTicketOutput(await vrf.verify(vrfPublicKey, ticket.proof, computeTicketAlpha(round, roundSeed)), ticket);
}

function isTicketRound(round: number, roundSeed: Uint8Array): boolean {
  return roundSeed.length === 32 && Number.isSafeInteger(round) && round >= 0;
}

function isTicketOutput(beta: Uint8Array | null, ticket: Ticket): boolean {
  return beta !== null && bytesEqual(beta, ticket.beta);
}
