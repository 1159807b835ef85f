// Bearer tokens: the operator's admin token, or a project key that opens its own project only.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { GatewayError } from '../../errors.ts';
import type { Repository } from '../../repository/index.ts';

export type Principal = { kind: 'admin' } | { kind: 'project'; projectId: string } | { kind: 'anonymous' };

/** A new project API key (shown once) and the hash that is stored. */
export function createApiKey(): { apiKey: string; hash: string } {
  const apiKey = `gwk_${randomBytes(32).toString('base64url')}`;
  return { apiKey, hash: hashToken(apiKey) };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A constant-time check of a presented token against the operator's admin token (false when none is set). */
export function createAdminCheck(adminToken: string | undefined): (token: string) => boolean {
  const adminHash = adminToken ? Buffer.from(hashToken(adminToken), 'hex') : undefined;
  return (token) => adminHash !== undefined && timingSafeEqual(Buffer.from(hashToken(token), 'hex'), adminHash);
}

/** Resolves `Authorization: Bearer …` into `ctx.state.principal`; never rejects by itself. */
export function createAuthMiddleware(adminToken: string | undefined, repository: Pick<Repository, 'getProjectIdByKeyHash'>) {
  const isAdminToken = createAdminCheck(adminToken);
  return async function auth(ctx: Context, next: Next): Promise<void> {
    const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(ctx.get('Authorization'));
    let principal: Principal = { kind: 'anonymous' };
    if (match) {
      if (isAdminToken(match[1])) principal = { kind: 'admin' };
      else if (match[1].startsWith('gwk_')) {
        const projectId = await repository.getProjectIdByKeyHash(hashToken(match[1]));
        if (projectId) principal = { kind: 'project', projectId };
      }
    }
    ctx.state.principal = principal;
    await next();
  };
}

export function requireAdmin(ctx: Context): void {
  const principal = ctx.state.principal as Principal;
  if (principal.kind === 'anonymous') throw new GatewayError('unauthorized', 'send the admin token as Authorization: Bearer <token>');
  if (principal.kind !== 'admin') throw new GatewayError('forbidden', 'this route needs the admin token');
}

/** Admin, or the key of this very project. */
export function requireProject(ctx: Context, projectId: string): void {
  const principal = ctx.state.principal as Principal;
  if (principal.kind === 'anonymous') throw new GatewayError('unauthorized', 'send the project key or the admin token as Authorization: Bearer <token>');
  if (principal.kind === 'project' && principal.projectId !== projectId) throw new GatewayError('forbidden', 'this key belongs to another project');
}
