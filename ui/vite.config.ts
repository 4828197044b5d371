// Vite builds the app into ../api/static/ui (served by `switchback up`); `npm run dev`
// serves it with hot reload and proxies the API (SWITCHBACK_API, default :8000).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

const api = process.env.SWITCHBACK_API ?? 'http://127.0.0.1:8000';
const proxied = ['/v1', '/healthz', '/docs', '/openapi.json'];

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: '../api/static/ui',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: Object.fromEntries(proxied.map((path) => [path, { target: api, changeOrigin: false }])),
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
