// The architecture as a build rule (`npm run lint`). Layers, lowest first; a folder may import only from its own
// layer's folder and the layers below it, never above and never a sibling in the same layer:
//
//   kernel ← contracts ← mappings, policy, access ← audit ← event ← reports ← http ← main (main.ts, runtime.ts, cli/)
//
// Because every import points down (or stays inside one folder), no two folders can form a cycle. docs/architecture.md
// says what lives in each layer.

/**
 * The layers, lowest first. A layer may import its own folder and every layer before it, except the ones it
 * stands beside (`siblings`): mappings, policy and access do not know each other.
 */
const order = [
  // kernel: env and config files, db, redis, logger, metrics, outcomes, time, ids, FHIR helpers. The terminology
  // tables are data (JSON), not code, so the kernel may read them.
  { name: 'kernel', path: '^src/kernel/', also: ['^mappings/terminology/'] },
  { name: 'contracts', path: '^src/contracts/' },
  { name: 'mappings', path: '^mappings/', siblings: 0 },
  { name: 'policy', path: '^src/policy/', siblings: 1 },
  { name: 'access', path: '^src/access/', siblings: 2 },
  { name: 'audit', path: '^src/audit/' },
  { name: 'event', path: '^src/event/' },
  { name: 'reports', path: '^src/reports/' },
  // http may use everything but the composition root (main.ts, runtime.ts, cli/), which sits above it.
  { name: 'http', path: '^src/http/' },
];

const layers = order.map((layer, i) => ({
  name: layer.name,
  path: layer.path,
  may: [
    layer.path,
    ...(layer.also ?? []),
    // Everything below, less the siblings that come before this one in the list.
    ...order.slice(0, i - (layer.siblings ?? 0)).map((below) => below.path),
  ],
}));

const ours = '^(src|mappings)/';

module.exports = {
  forbidden: [
    ...layers.map((layer) => ({
      name: `layer-${layer.name}`,
      comment: `${layer.path} may import only ${layer.may.join(', ')} of our code (the layer order)`,
      severity: 'error',
      from: { path: layer.path },
      to: { path: ours, pathNot: layer.may },
    })),
    {
      name: 'no-circular',
      comment: 'No import cycles between files either (a cycle inside one folder hides a missing seam).',
      severity: 'error',
      from: { path: ours },
      to: { circular: true },
    },
    {
      name: 'dialect-isolation',
      comment: 'A HIS dialect is one folder: it uses its own files and mappings/his/shared only.',
      severity: 'error',
      from: { path: '^mappings/his/([^/]+)/' },
      to: { path: '^mappings/(his|municipality|practice)/', pathNot: ['^mappings/his/$1/', '^mappings/his/shared/'] },
    },
    {
      name: 'format-isolation',
      comment: 'A destination format is one folder: it uses its own files and mappings/municipality/shared only.',
      severity: 'error',
      from: { path: '^mappings/municipality/([^/]+)/' },
      to: {
        path: '^mappings/(his|municipality|practice)/',
        pathNot: ['^mappings/municipality/$1/', '^mappings/municipality/shared/'],
      },
    },
    {
      name: 'product-not-tests',
      comment: 'Product code never imports tests, benchmarks or scripts.',
      severity: 'error',
      from: { path: ours },
      to: { path: '^(tests|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|coverage|data)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
