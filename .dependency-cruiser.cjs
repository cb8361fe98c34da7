// The architecture as a build rule (`npm run lint`). Layers, lowest first; a folder may import only from its own
// layer's folder and the layers below it, never above and never a sibling in the same layer:
//
//   kernel ← contracts ← mappings, policy, access ← audit ← event ← reports ← http ← main (main.ts, runtime.ts, cli/)
//
// Because every import points down (or stays inside one folder), no two folders can form a cycle. docs/architecture.md
// says what lives in each layer.

/** One rule per layer: the folders below it it may use; anything else of ours is forbidden. */
const layers = [
  // kernel: env and config files, db, redis, logger, metrics, outcomes, time, ids, FHIR helpers. The terminology
  // tables are data (JSON), not code, so the kernel may read them.
  { name: 'kernel', path: '^src/kernel/', may: ['^src/kernel/', '^mappings/terminology/'] },
  { name: 'contracts', path: '^src/contracts/', may: ['^src/contracts/', '^src/kernel/'] },
  // The three middle layers stand side by side: none of them knows the others.
  { name: 'mappings', path: '^mappings/', may: ['^mappings/', '^src/contracts/', '^src/kernel/'] },
  { name: 'policy', path: '^src/policy/', may: ['^src/policy/', '^src/contracts/', '^src/kernel/'] },
  { name: 'access', path: '^src/access/', may: ['^src/access/', '^src/contracts/', '^src/kernel/'] },
  {
    name: 'audit',
    path: '^src/audit/',
    may: ['^src/audit/', '^src/access/', '^src/policy/', '^mappings/', '^src/contracts/', '^src/kernel/'],
  },
  {
    name: 'event',
    path: '^src/event/',
    may: [
      '^src/event/',
      '^src/audit/',
      '^src/access/',
      '^src/policy/',
      '^mappings/',
      '^src/contracts/',
      '^src/kernel/',
    ],
  },
  {
    name: 'reports',
    path: '^src/reports/',
    may: [
      '^src/reports/',
      '^src/event/',
      '^src/audit/',
      '^src/access/',
      '^src/policy/',
      '^mappings/',
      '^src/contracts/',
      '^src/kernel/',
    ],
  },
  { name: 'http', path: '^src/http/', may: ['^src/(?!main\\.ts|runtime\\.ts|cli/)', '^mappings/'] },
];

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
