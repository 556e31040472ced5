// The console is served by the service at /console (Infrastructure/ConsoleHosting.cs) from dist/, which the service's
// build copies next to its dll. One entry, no code splitting needed at this size; the budget is checked by the tests.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/console/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022', assetsInlineLimit: 0 },
});
