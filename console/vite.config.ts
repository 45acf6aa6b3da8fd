/**
 * The console's build: one single-page app (checkout, dashboard, node consoles) into console/dist,
 * which the gateway and every node serve (core/http/console.ts). No inline scripts or styles, so the
 * pages run under the console's strict Content-Security-Policy.
 */
import { fileURLToPath } from "node:url";

import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  base: "/",
  plugins: [react()],
  // The console imports the gateway's checkout wire schemas from outside its own folder.
  server: { fs: { allow: [fileURLToPath(new URL("..", import.meta.url))] } },
  build: {
    outDir: fileURLToPath(new URL("./dist", import.meta.url)),
    emptyOutDir: true,
    assetsDir: "assets",
    // Scripts and styles as files, never inlined into the page (the CSP allows only 'self').
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
