/**
 * WeCom's domain verification files (docs/deploying.md, "5. The domain verification file"): to make a domain
 * an app's trusted domain (可信域名), WeCom asks for a `WW_verify_<code>.txt`
 * at the domain root. `WECOM_VERIFY_FILES` maps such names to their content;
 * nothing else is ever served from the root.
 */
import { WecomError } from "../errors.js";
import { encodeUtf8 } from "../lib/bytes.js";
import { isPlainObject } from "../lib/checks.js";
import { textResponse } from "./http.js";
import type { Route, RouteContext } from "./table.js";

const FILE_NAME = /^WW_verify_[A-Za-z0-9]{1,64}\.txt$/;
const MAX_CONTENT_BYTES = 1_024;

let cache: { source: string; files: ReadonlyMap<string, string> | WecomError } | undefined;

/** The files, parsed once per isolate and again only when the variable changes. */
export function verifyFiles(source: string | undefined): ReadonlyMap<string, string> {
  const text = source ?? "{}";
  if (cache?.source !== text) cache = { source: text, files: parse(text) };
  if (cache.files instanceof WecomError) throw cache.files;
  return cache.files;
}

function parse(text: string): ReadonlyMap<string, string> | WecomError {
  const invalid = (problem: string, at = "") => new WecomError("invalid_config", "WECOM_VERIFY_FILES is invalid", `WECOM_VERIFY_FILES${at} ${problem}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return invalid("is not valid JSON");
  }
  if (!isPlainObject(value)) return invalid('must be a JSON object of "WW_verify_<code>.txt" to content');
  const files = new Map<string, string>();
  for (const [name, content] of Object.entries(value)) {
    if (!FILE_NAME.test(name)) return invalid(`has a name that is not WW_verify_<letters and digits>.txt: "${name.slice(0, 64)}"`);
    if (typeof content !== "string" || encodeUtf8(content).length > MAX_CONTENT_BYTES) {
      return invalid(`must be a string of at most ${MAX_CONTENT_BYTES} bytes`, `.${name}`);
    }
    files.set(name, content);
  }
  return files;
}

async function serveFile({ env, params }: RouteContext): Promise<Response> {
  const content = verifyFiles(env.WECOM_VERIFY_FILES).get(params[0]!);
  if (content === undefined) throw new WecomError("not_found", "no such route");
  return textResponse(content);
}

export const verifyFileRoute: Route = {
  name: "file",
  path: /^\/(WW_verify_[A-Za-z0-9]{1,64}\.txt)$/,
  methods: { GET: serveFile, HEAD: serveFile },
};
