/**
 * Validates Kubernetes objects against the OpenAPI schemas of a current
 * Kubernetes release (kubernetes-models 5.1, generated from Kubernetes 1.34's
 * OpenAPI; cert-manager and Prometheus Operator objects through their
 * @kubernetes-models packages, generated from those projects' CRDs).
 * Those validators accept unknown fields, so built-in kinds are also checked
 * field by field against the OpenAPI-generated models of @kubernetes/client-node
 * (a misspelt field such as `mountPropogation` would otherwise pass silently).
 *
 * The libraries are ESM-only, which jest cannot load, so the tests run this file
 * as its own process: JSON array of objects on stdin, one result per object on stdout.
 */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string };
}
interface Result {
  id: string;
  ok: boolean;
  error?: string;
}
type ModelClass = new (data: unknown) => { validate(): void };

// A real ESM import(); TypeScript's CommonJS output would turn `import()` into require().
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- a constant module loader, not code from data: the only way to keep import() in CommonJS output
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

function modulePath(apiVersion: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'cert-manager.io') return `@kubernetes-models/cert-manager/${group}/${version}`;
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}`;
  return group === '' ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`;
}

async function validate(obj: K8sObject): Promise<Result> {
  const id = `${obj.apiVersion}/${obj.kind}/${obj.metadata?.name ?? '?'}`;
  try {
    const mod = await importEsm(modulePath(obj.apiVersion));
    const Model = mod[obj.kind] as ModelClass | undefined;
    if (typeof Model !== 'function') return { id, ok: false, error: `no schema for ${obj.kind} in ${modulePath(obj.apiVersion)}` };
    new Model(obj).validate();
    const unknown = await unknownFields(obj);
    if (unknown.length > 0) return { id, ok: false, error: `unknown fields: ${unknown.join(', ')}` };
    return { id, ok: true };
  } catch (err) {
    return { id, ok: false, error: (err as Error).message };
  }
}

interface Attribute {
  baseName: string;
  type: string;
}
type ClientModels = Record<string, { getAttributeTypeMap?: () => Attribute[] } | undefined>;

/** Paths of fields the built-in kind's OpenAPI model does not have; CRDs are skipped. */
async function unknownFields(obj: K8sObject): Promise<string[]> {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  if (group.endsWith('cert-manager.io') || group === 'monitoring.coreos.com') return [];
  const models = (await importEsm('@kubernetes/client-node')) as unknown as ClientModels;
  const root = `${version.charAt(0).toUpperCase()}${version.slice(1)}${obj.kind}`;
  if (!models[root]?.getAttributeTypeMap) return [`(no model ${root})`];
  const problems: string[] = [];
  const walk = (value: unknown, type: string, at: string): void => {
    if (value === null || value === undefined) return;
    if (type.startsWith('Array<') && Array.isArray(value)) {
      value.forEach((v, i) => walk(v, type.slice('Array<'.length, -1), `${at}[${i}]`));
      return;
    }
    const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
    if (map && typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, map[1], `${at}.${k}`);
      return;
    }
    const attributes = models[type]?.getAttributeTypeMap?.();
    if (!attributes || typeof value !== 'object') return; // scalars, IntOrString, free-form objects
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const attribute = attributes.find((a) => a.baseName === k);
      if (!attribute) problems.push(`${at}.${k}`);
      else walk(v, attribute.type, `${at}.${k}`);
    }
  };
  walk(obj, root, '');
  return problems;
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const objects = JSON.parse(Buffer.concat(chunks).toString('utf8')) as K8sObject[];
  const results: Result[] = [];
  for (const obj of objects) results.push(await validate(obj));
  process.stdout.write(JSON.stringify(results));
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
});
