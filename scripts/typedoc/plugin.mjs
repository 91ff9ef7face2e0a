// typedoc plugin for `npm run docs` (typedoc.json):
// - the landing page of docs/api opens with intro.md (beside this file), as written:
//   typedoc's `readme` option would rewrite its links to the guides and copy files;
// - a method inherited from an interface that two declaration sets merge (Disposable and
//   AsyncDisposable come from TypeScript's lib.esnext.disposable and again from
//   @types/node) has the same signature twice, and the reference listed `[asyncDispose]`
//   and `[dispose]` twice on `Lock`: identical signatures are kept once.
import { readFileSync } from 'node:fs';
import { Converter, ReflectionKind } from 'typedoc';

const intro = readFileSync(new URL('intro.md', import.meta.url), 'utf8');

export function load(app) {
  app.renderer.markdownHooks.on('content.begin', (context) => (context.page.url === 'README.md' ? intro : ''));
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    for (const method of context.project.getReflectionsByKind(ReflectionKind.Method)) {
      const seen = new Set();
      for (const sig of [...(method.signatures ?? [])]) {
        const key = JSON.stringify([
          (sig.parameters ?? []).map((p) => [p.name, String(p.type)]),
          String(sig.type),
          sig.comment?.summary,
        ]);
        if (seen.has(key)) context.project.removeReflection(sig);
        else seen.add(key);
      }
    }
  });
}
