// `gateway/client`: the typed Gateway API client, its error and its reply types.
export { createGatewayClient, type GatewayClient, type GatewayClientOptions } from './client.ts';
export { GatewayApiError, isGatewayApiError, type GatewayApiErrorCode, type GatewayApiErrorFields } from './errors.ts';
export type * from './types.ts';
