// How a TypeScript app uses Huddle's generated types with openapi-fetch (README, "SDKs").
// `make sdk` writes build/sdk/typescript/huddle.d.ts from sdk/openapi.json; CI compiles this file
// against it with `tsc --noEmit --strict` (tests/e2e/test_typescript_sdk.py), so it stays true.
import createClient from "openapi-fetch";
import type { components, paths } from "./huddle";

type ChatMessage = components["schemas"]["ChatMessage"];
type ErrorBody = components["schemas"]["ErrorBody"];

export async function greet(baseUrl: string, email: string, password: string): Promise<ChatMessage[]> {
  const anonymous = createClient<paths>({ baseUrl });
  const { data: tokens, error } = await anonymous.POST("/api/v1/auth/login", { body: { email, password } });
  if (error) throw new Error(describe(error));

  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${tokens.access_token}` } });
  const created = await api.POST("/api/v1/groups", { body: { name: "From TypeScript" } });
  if (created.error) throw new Error(describe(created.error));
  const groupId = created.data.id;

  const sent = await api.POST("/api/v1/groups/{group_id}/messages", {
    params: { path: { group_id: groupId } },
    body: { text: "Hello from a generated client", client_msg_id: crypto.randomUUID() },
  });
  if (sent.error) throw new Error(describe(sent.error));

  const page = await api.GET("/api/v1/groups/{group_id}/messages", {
    params: { path: { group_id: groupId }, query: { limit: 20 } },
  });
  if (page.error) throw new Error(describe(page.error));
  return page.data.items.filter((item): item is ChatMessage => item.type === "message");
}

/** Every error is one body: a stable `code` for programs, `detail` for people. */
function describe(error: ErrorBody): string {
  return `${error.status_code} ${error.code}: ${error.detail}`;
}
