// The browser app: React, built by Vite into web/dist, which the platform serves (src/server/web.ts).
// `npm start` and `npm test` build it when missing or stale (src/server/web-build.ts).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 2000 },
  // `npx vite web` for development: API, FHIR and login go to a running platform.
  server: { proxy: { '/api': 'http://localhost:3000', '/auth': 'http://localhost:3000', '/fhir': 'http://localhost:3000' } },
});
