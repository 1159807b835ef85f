// Unit tests for the request lifecycle: the transition table over every pair of statuses, final and
// open statuses, and the repository's Lua scripts, which must name exactly the lifecycle's statuses.
import { expect } from 'chai';
import {
  ASSIGNED_STATUSES, FINAL_STATUSES, INITIAL_STATUS, OPEN_STATUSES, REJECTED_STATUS, REQUEST_STATUSES, TRANSITIONS, VOTING_STATUS,
  allowedFrom, canTransition, isFinal, isOpen, type RequestStatus,
} from '../../lib/protocol/request-lifecycle.ts';
import { REQUEST_SCRIPT_SOURCES } from '../../lib/repository/requests.ts';

// Spelled out independently of the module, as docs/architecture.md draws the lifecycle.
const ALLOWED = new Set(['queued → assigned', 'assigned → agreed', 'agreed → published', 'queued → failed', 'assigned → failed', 'agreed → failed']);
const FINAL = new Set<RequestStatus>(['published', 'failed']);

describe('request lifecycle', () => {
  describe('canTransition', () => {
    for (const from of REQUEST_STATUSES) {
      for (const to of REQUEST_STATUSES) {
        const isAllowed = ALLOWED.has(`${from} → ${to}`);
        it(`${isAllowed ? 'allows' : 'refuses'} ${from} → ${to}`, () => {
          expect(canTransition(from, to)).to.equal(isAllowed);
          expect((allowedFrom(to) as readonly RequestStatus[]).includes(from)).to.equal(isAllowed);
        });
      }
    }
  });

  it('lists the allowed-from statuses of every status a transition enters, and none for queued', () => {
    expect(TRANSITIONS).to.deep.equal({ assigned: ['queued'], agreed: ['assigned'], published: ['agreed'], failed: ['queued', 'assigned', 'agreed'] });
    expect(allowedFrom('queued')).to.deep.equal([]);
  });

  for (const status of REQUEST_STATUSES) {
    it(`calls ${status} ${FINAL.has(status) ? 'final' : 'open'}`, () => {
      expect(isFinal(status)).to.equal(FINAL.has(status));
      expect(isOpen(status)).to.equal(!FINAL.has(status));
      expect(FINAL_STATUSES.includes(status)).to.equal(FINAL.has(status));
      expect((OPEN_STATUSES as readonly RequestStatus[]).includes(status)).to.equal(!FINAL.has(status));
    });
  }

  it('lists the final and the open statuses in lifecycle order', () => {
    expect(FINAL_STATUSES).to.deep.equal(['published', 'failed']);
    expect(OPEN_STATUSES).to.deep.equal(['queued', 'assigned', 'agreed']);
  });

  it('creates requests queued (or failed when refused for their input) and records votes while assigned', () => {
    expect(INITIAL_STATUS).to.equal('queued');
    expect(REJECTED_STATUS).to.equal('failed');
    expect(VOTING_STATUS).to.equal('assigned');
  });

  it('reaches every status from the initial one', () => {
    const reached = new Set<RequestStatus>([INITIAL_STATUS]);
    for (let size = 0; size !== reached.size;) {
      size = reached.size;
      for (const to of REQUEST_STATUSES) if (allowedFrom(to).some((from) => reached.has(from))) reached.add(to);
    }
    expect([...reached].sort()).to.deep.equal([...REQUEST_STATUSES].sort());
  });
});

/** The quoted words of the Lua table assigned to `local <name>` (one line). */
function luaList(source: string, name: string): string[] {
  const line = new RegExp(`^local ${name} = \\{(.*)\\}$`, 'm').exec(source);
  expect(line, `local ${name}`).to.not.equal(null);
  return quoted(line![1]);
}

function quoted(text: string): string[] {
  return [...text.matchAll(/'(\w+)'/g)].map((m) => m[1]);
}

/** Every status literal in `source`, in order. */
function statusLiterals(source: string): string[] {
  return quoted(source).filter((word) => (REQUEST_STATUSES as readonly string[]).includes(word));
}

describe('request scripts built from the lifecycle', () => {
  const { store, transition, recordVote } = REQUEST_SCRIPT_SOURCES;

  it('TRANSITION hands back the admission slot and announces exactly for the final statuses', () => {
    expect(luaList(transition, 'FINAL')).to.deep.equal([...FINAL_STATUSES]);
    expect(transition).to.include('if has(FINAL, ARGV[3]) then');
  });

  it('TRANSITION keeps an index for exactly the open statuses, in the order of its index keys', () => {
    expect(luaList(transition, 'OPEN')).to.deep.equal([...OPEN_STATUSES]);
    expect(transition).to.include('for i, indexed in ipairs(OPEN) do');
  });

  it('TRANSITION allows each move from exactly the statuses the lifecycle lists', () => {
    const line = /^local ALLOWED_FROM = \{(.*)\}$/m.exec(transition);
    expect(line, 'local ALLOWED_FROM').to.not.equal(null);
    const table = Object.fromEntries([...line![1].matchAll(/\['(\w+)'\] = \{([^}]*)\}/g)].map((m) => [m[1], quoted(m[2])]));
    expect(table).to.deep.equal(TRANSITIONS);
    expect(transition).to.include('if not has(ALLOWED_FROM[ARGV[3]] or {}, status) then return {0, status} end');
  });

  it('TRANSITION names no status outside the tables built from the lifecycle', () => {
    const rest = transition.split('\n').filter((line) => !/^local (FINAL|OPEN|ALLOWED_FROM|INITIAL) = /.test(line)).join('\n');
    expect(statusLiterals(rest)).to.deep.equal([]);
  });

  it('TRANSITION checks what a caller expects of a request (project, acceptance time) only in the initial status', () => {
    expect(quoted(/^local INITIAL = (.*)$/m.exec(transition)?.[1] ?? '')).to.deep.equal([INITIAL_STATUS]);
    expect(transition).to.include('if status ~= INITIAL or ');
  });

  it('RECORD_VOTE records only in the status the lifecycle records votes in', () => {
    expect([...recordVote.matchAll(/status ~= '(\w+)'/g)].map((m) => m[1])).to.deep.equal([VOTING_STATUS]);
    const rest = recordVote.split('\n').filter((line) => !/^local ASSIGNED = /.test(line)).join('\n');
    expect(statusLiterals(rest)).to.deep.equal([VOTING_STATUS]);
  });

  it('RECORD_VOTE skips the assignment check in exactly the statuses only an assigned request reaches', () => {
    expect(ASSIGNED_STATUSES).to.deep.equal(['assigned', 'agreed', 'published']);
    expect(luaList(recordVote, 'ASSIGNED')).to.deep.equal([...ASSIGNED_STATUSES]);
  });

  it('STORE stores a request in the initial status, or the rejected one when refused for its input', () => {
    expect([...store.matchAll(/'status', '(\w+)'/g)].map((m) => m[1])).to.deep.equal([REJECTED_STATUS, INITIAL_STATUS]);
    expect(statusLiterals(store)).to.deep.equal([REJECTED_STATUS, INITIAL_STATUS]);
  });
});
