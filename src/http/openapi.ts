// GET /openapi.json: the HTTP API described from its own route table (src/http/server.ts), so the
// document lists exactly the endpoints the server answers, with the roles they need and the JSON
// schemas of their answers (test/http_api.test.ts validates real answers against them).
import type { Route } from './server.ts';

const errorResponse = { $ref: '#/components/responses/Error' };

export function openApiDocument(routes: Route[]) {
  const paths: Record<string, Record<string, object>> = {};
  for (const r of routes) {
    const parameters = [
      ...[...r.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' },
        description: name === 'key' ? 'the primary key as text; a composite key as a JSON array, URL-encoded' : name === 'table' ? 'a registered table, schema-qualified' : name })),
      ...Object.entries(r.query ?? {}).map(([name, q]) => ({ name, in: 'query', required: false, schema: { type: q.type }, description: q.description })),
    ];
    const op: Record<string, unknown> = {
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${r.path.replace(/\{(\w+)\}/g, 'By_$1').split(/[/_-]/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join('')}`,
      'x-role': r.role,
      'x-action-logged': Boolean(r.action),
      security: r.role === 'none' ? [] : [{ bearer: [] }, { apiKey: [] }],
      parameters,
      responses: {
        200: r.response === 'text'
          ? { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } }
          : { description: 'OK', content: { 'application/json': { schema: r.response } } },
        ...(r.role === 'none' ? {} : { 401: errorResponse, 403: errorResponse }),
        400: errorResponse, 404: errorResponse, 409: errorResponse, 500: errorResponse,
      },
    };
    if (r.body) op.requestBody = { required: Boolean(r.body.required?.length), content: { 'application/json': { schema: { type: 'object', properties: r.body.properties, required: r.body.required ?? [] } } } };
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  paths['/metrics'] = { get: { summary: 'Prometheus metrics: the file queue, this server\'s cleanup counters, the deletion jobs.', operationId: 'getMetrics', 'x-role': 'none', security: [],
    responses: { 200: { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } } } } };
  paths['/openapi.json'] = { get: { summary: 'This document.', operationId: 'getOpenApi', 'x-role': 'none', security: [],
    responses: { 200: { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } } } } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'pg-deletion-kit HTTP API',
      version: '1',
      description: 'deletion-kit serve. Tokens map to roles (viewer < operator < admin), roles to database roles; every request runs in one transaction under SET LOCAL ROLE, so the database decides. x-role: the lowest role an endpoint needs. Changes are written to the action log (GET /api/actions).',
    },
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
      schemas: {
        Error: {
          type: 'object', required: ['error'],
          properties: { error: { type: 'object', required: ['sqlstate', 'message', 'hint', 'detail'],
            properties: { sqlstate: { anyOf: [{ type: 'string' }, { type: 'null' }] }, message: { type: 'string' }, hint: { anyOf: [{ type: 'string' }, { type: 'null' }] }, detail: { anyOf: [{ type: 'string' }, { type: 'null' }] } } } },
        },
      },
      responses: { Error: { description: 'An error, with its SQLSTATE', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
    },
  };
}
