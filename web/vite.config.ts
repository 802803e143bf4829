import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API to a running fleet (`make dev`, gateway on :8080).
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: {
    proxy: { "/api": process.env.TRADEOPT_GATEWAY ?? "http://127.0.0.1:8080" },
  },
});
