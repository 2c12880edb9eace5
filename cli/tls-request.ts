import * as https from "node:https";

/** The stack's client TLS material for a service that requires client certificates. */
export interface ClientTls {
  ca: string;
  cert: string;
  key: string;
}

/**
 * One HTTPS request with a client certificate, the server verified against the stack's CA; the
 * status and the body parsed as JSON. Rejects on a network error, a timeout or a body that is not
 * JSON, with a message fit for a row of `ls` or `status`.
 */
export function tlsJsonRequest(
  url: string,
  tls: ClientTls,
  options: { timeoutMs: number; method?: "GET" | "POST"; body?: unknown },
): Promise<{ status: number; json: unknown }> {
  const target = new URL(url);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: target.hostname,
        port: Number(target.port || 443),
        path: `${target.pathname}${target.search}`,
        method: options.method ?? "GET",
        headers: payload === undefined ? {} : { "content-type": "application/json" },
        ...tls,
        timeout: options.timeoutMs,
        agent: false,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => {
          try {
            resolve({ status: response.statusCode ?? 0, json: JSON.parse(body) as unknown });
          } catch {
            reject(
              new Error(
                `${target.pathname} answered HTTP ${response.statusCode} with invalid JSON`,
              ),
            );
          }
        });
      },
    );
    request.on("timeout", () =>
      request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
    );
    request.on("error", reject);
    request.end(payload);
  });
}
