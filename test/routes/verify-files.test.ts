/** WeCom's domain verification files, from WECOM_VERIFY_FILES (docs/deploying.md, "5. The domain verification file"). */
import { afterEach, describe, expect, it, vi } from "vitest";
import { callbackRequest, callWorker, errorOf, newBucket, testEnv, textMessage, webhookApp } from "../support/wecom.js";

afterEach(() => vi.restoreAllMocks());

function environment(files: unknown) {
  const app = newBucket("files");
  return { app, env: { ...testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } }), WECOM_VERIFY_FILES: typeof files === "string" ? files : JSON.stringify(files) } };
}

const get = (path: string, env: Record<string, unknown>, method = "GET") => callWorker(new Request(`https://wecom.example.com${path}`, { method }), env);

describe("WECOM_VERIFY_FILES", () => {
  it("serves each file at the domain root as text/plain, byte for byte", async () => {
    const { env } = environment({ "WW_verify_Ab3dE9fG1hJ2kL4m.txt": "Ab3dE9fG1hJ2kL4m" });
    const response = await get("/WW_verify_Ab3dE9fG1hJ2kL4m.txt", env);
    expect([response.status, response.headers.get("content-type"), await response.text()]).toEqual([200, "text/plain; charset=utf-8", "Ab3dE9fG1hJ2kL4m"]);
    expect((await get("/WW_verify_Ab3dE9fG1hJ2kL4m.txt", env, "HEAD")).status).toBe(200);
    expect(await errorOf(await get("/WW_verify_Ab3dE9fG1hJ2kL4m.txt", env, "POST"))).toEqual({ status: 405, code: "method_not_allowed", message: "use GET or HEAD" });
  });

  it("serves nothing else from the root", async () => {
    const { env } = environment({ "WW_verify_abc.txt": "abc" });
    for (const path of ["/WW_verify_other.txt", "/WW_verify_abc.txt.bak", "/robots.txt", "/WW_verify_../x.txt", "/x/WW_verify_abc.txt"]) {
      expect([path, (await get(path, env)).status]).toEqual([path, 404]);
    }
  });

  it("answers 503 for the files when the variable is broken, naming the problem only in the log; callbacks go on", async () => {
    const { app, env } = environment({ "robots.txt": "x" });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(await errorOf(await get("/WW_verify_abc.txt", env))).toEqual({ status: 503, code: "invalid_config", message: "WECOM_VERIFY_FILES is invalid" });
    expect(JSON.parse(String(warn.mock.calls[0]![0])).detail).toBe('WECOM_VERIFY_FILES has a name that is not WW_verify_<letters and digits>.txt: "robots.txt"');
    expect((await callWorker(await callbackRequest(app, textMessage("still here")), env)).status).toBe(200);
  });

  it.each([
    ["not json", "WECOM_VERIFY_FILES is not valid JSON"],
    [JSON.stringify(["x"]), 'WECOM_VERIFY_FILES must be a JSON object of "WW_verify_<code>.txt" to content'],
    [JSON.stringify({ "WW_verify_a.txt": "x".repeat(1025) }), "WECOM_VERIFY_FILES.WW_verify_a.txt must be a string of at most 1024 bytes"],
  ])("refuses %s", async (files, detail) => {
    const { env } = environment(files);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect((await get("/WW_verify_a.txt", env)).status).toBe(503);
    expect(JSON.parse(String(warn.mock.calls[0]![0])).detail).toBe(detail);
  });
});
