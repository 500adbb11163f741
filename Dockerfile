# The gateway runs its TypeScript directly with tsx (no separate build output to keep in sync).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY simulators ./simulators
EXPOSE 9000 8080
USER node
CMD ["node", "--import", "tsx", "src/main.ts"]
