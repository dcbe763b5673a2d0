import { PROBLEM_CONTENT_TYPE, ProblemSchema } from '@flotilla/core';
import type { TSchema } from '@sinclair/typebox';
import type { AnyEndpoint, Contract } from '../contract.js';

type Json = Record<string, unknown>;

/** A TypeBox schema as plain JSON Schema (TypeBox's symbols dropped). */
function plain(schema: TSchema): Json {
  return JSON.parse(JSON.stringify(schema)) as Json;
}

/** OpenAPI 3.1 parameters of one part (`path` or `query`) from an object schema. */
function parameters(schema: TSchema | undefined, where: 'path' | 'query'): Json[] {
  if (!schema) return [];
  const json = plain(schema);
  const properties = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: s,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }));
}

function operation(contract: Contract, name: string, e: AnyEndpoint): Json {
  const status = String(e.status ?? 200);
  const problem = {
    description: 'Problem details (RFC 9457)',
    content: { [PROBLEM_CONTENT_TYPE]: { schema: plain(ProblemSchema) } },
  };
  return {
    operationId: name,
    ...(e.summary ? { summary: e.summary } : {}),
    tags: [contract.service],
    parameters: [...parameters(e.params, 'path'), ...parameters(e.query, 'query')],
    ...(e.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: plain(e.body) } } } }
      : {}),
    responses: {
      [status]: { description: 'Success', content: { 'application/json': { schema: plain(e.response) } } },
      '400': problem,
      default: problem,
    },
  };
}

/** The OpenAPI 3.1 document of a service's contract, served at `/openapi.json`. */
export function openApiDocument(contract: Contract, version = '0.0.0'): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const [name, e] of Object.entries(contract.endpoints)) {
    const path = e.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
    paths[path] ??= {};
    (paths[path] as Record<string, Json>)[e.method.toLowerCase()] = operation(contract, name, e);
  }
  return {
    openapi: '3.1.0',
    info: { title: contract.service, version },
    paths,
  };
}
