// docs/api.md's response shapes, built from repository records (no secrets, no key hashes).
import type { NodeRecord, Project, RequestRecord } from '../../repository/types.ts';

export function projectView(project: Project) {
  const { id, name, description, version, codeCid, committee, aggregation, limits, createdAt } = project;
  return { id, name, description, version, codeCid, committee, aggregation, limits, createdAt };
}

export function requestView(request: RequestRecord) {
  const { assignment, outcome } = request;
  const errorMessage = outcome && !outcome.ok ? (outcome.value as { error?: unknown }).error : undefined;
  return {
    id: request.id,
    projectId: request.projectId,
    version: request.version,
    codeCid: request.codeCid,
    source: request.source,
    status: request.status,
    input: request.input,
    ...(outcome ? { ok: outcome.ok, resultHash: outcome.resultHash } : {}),
    ...(outcome?.ok ? { result: outcome.value } : {}),
    ...(typeof errorMessage === 'string' ? { error: errorMessage } : {}),
    ...(request.failure ? { failure: request.failure } : {}),
    ...(assignment ? { round: assignment.round, committee: assignment.committee, quorum: assignment.quorum, aggregation: assignment.aggregation } : {}),
    ...(assignment ? {
      votes: request.votes.map((v) => ({
        nodeId: v.nodeId, ok: v.ok, resultHash: v.resultHash, signature: v.signature, value: v.value, late: v.late === true, ...(v.logs ? { logs: v.logs } : {}),
        ...(v.valueDropped ? { valueDropped: true } : {}),
      })),
    } : {}),
    ...(request.ledger ? { ledger: request.ledger } : {}),
    ...(request.origin ? { origin: request.origin } : {}),
    ...(request.chain ? { chain: request.chain } : {}),
    createdAt: request.createdAt,
    ...(request.finishedAt ? { finishedAt: request.finishedAt } : {}),
  };
}

export function nodeView(node: NodeRecord) {
  const { id, name, signPublicKey, vrfPublicKey, registration, status, createdAt } = node;
  return { id, name, signPublicKey, vrfPublicKey, registration, status, createdAt, lastTicketRound: node.lastTicketRound ?? null };
}
