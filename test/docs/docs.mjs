// Helpers for the docs' tests (docs/development.md, "The docs and their
// translations"): which files are docs, GitHub's heading anchors, the links
// and commands a Markdown file shows.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The docs, as paths relative to the repository's root with "/": whatever of them exists. */
export function docFiles(root = ROOT) {
  const files = ["README.md", "README.zh-CN.md", "CHANGELOG.md", "examples/README.md"].filter((file) => existsSync(join(root, file)));
  const walk = (dir) => {
    if (!existsSync(join(root, dir))) return;
    for (const name of readdirSync(join(root, dir)).sort()) {
      const path = `${dir}/${name}`;
      if (statSync(join(root, path)).isDirectory()) walk(path);
      else if (name.endsWith(".md")) files.push(path);
    }
  };
  walk("docs");
  return files;
}

/** The translations: README.zh-CN.md and docs/zh-CN/**.md, whatever of them exists. */
export function translationFiles(root = ROOT) {
  return docFiles(root).filter((file) => file === "README.zh-CN.md" || file.startsWith("docs/zh-CN/"));
}

/**
 * The file's lines with fenced code blocks marked, so that a "# comment" in a
 * shell block is not taken for a heading, nor a link in a code block for a link.
 */
export function lines(text) {
  const out = [];
  let fence = null;
  for (const line of text.split("\n")) {
    const open = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence === null && open) {
      fence = open[1];
      out.push({ line, code: true, fence: true });
    } else if (fence !== null && line.trim().startsWith(fence[0].repeat(fence.length)) && line.trim().replace(/[`~]/g, "") === "") {
      fence = null;
      out.push({ line, code: true, fence: true });
    } else {
      out.push({ line, code: fence !== null, fence: false });
    }
  }
  return out;
}

/** A heading's text as GitHub renders it: no inline code marks, link targets, emphasis or closing #s. */
function headingText(raw) {
  return raw
    .replace(/\s+#+\s*$/, "")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`([^`]*)`/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/\*+/g, "")
    .trim();
}

/** GitHub's anchor for a heading text: lower case, punctuation dropped but - and _, spaces to -. */
export function slug(text) {
  return headingText(text)
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor a Markdown text has, duplicates numbered -1, -2 … as GitHub does. */
export function anchors(text) {
  const seen = new Map();
  const out = new Set();
  for (const { line, code } of lines(text)) {
    if (code) continue;
    const heading = /^ {0,3}#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.add(count === 0 ? base : `${base}-${count}`);
  }
  return out;
}

/** Links and images outside code: [text](target), ![alt](target), and href/src in HTML. */
export function links(text) {
  const out = [];
  lines(text).forEach(({ line, code }, index) => {
    if (code) return;
    const prose = line.replace(/(`+)(?:(?!\1).)*?\1/g, (span) => " ".repeat(span.length));
    for (const match of prose.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      out.push({ target: match[1], line: index + 1 });
    }
    for (const match of prose.matchAll(/\b(?:href|src)="([^"]+)"/g)) out.push({ target: match[1], line: index + 1 });
  });
  return out;
}

/**
 * The broken links of one doc: a relative target that names no file, or an
 * anchor that no heading of its file has. `read(path)` gives a file's text
 * or null when it does not exist (a folder counts as existing, with no text).
 */
export function brokenLinks(file, text, read) {
  const problems = [];
  for (const { target, line } of links(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …
    const hash = target.indexOf("#");
    const path = hash === -1 ? target : target.slice(0, hash);
    const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
    const resolved = path === "" ? file : relative(ROOT, resolve(ROOT, dirname(file), decodeURIComponent(path))).split(sep).join("/");
    const content = read(resolved);
    if (content === null) {
      problems.push(`${file}:${line}: ${target}: ${resolved} does not exist`);
      continue;
    }
    if (anchor !== null && anchor !== "") {
      if (typeof content !== "string" || !resolved.endsWith(".md")) {
        problems.push(`${file}:${line}: ${target}: an anchor into ${resolved}, which is not a Markdown file`);
      } else if (!anchors(content).has(anchor)) {
        problems.push(`${file}:${line}: ${target}: ${resolved} has no heading with the anchor #${anchor}`);
      }
    }
  }
  return problems;
}

/** A reader of the repository's files for brokenLinks. */
export function readRepo(path) {
  const full = join(ROOT, path);
  if (!existsSync(full)) return null;
  return statSync(full).isDirectory() ? true : readFileSync(full, "utf8");
}

/**
 * The commands a doc shows, in code blocks and inline code: each
 * `npx wecom-edge <cmd> …` with the --flags given to it, and each
 * `npm run <script>`. A shell line continued with "\" counts as one.
 */
export function commands(text) {
  const pieces = [];
  let pending = "";
  let pendingLine = 0;
  lines(text).forEach(({ line, code, fence }, index) => {
    if (fence) return;
    if (code) {
      if (pending === "") pendingLine = index + 1;
      pending += line.replace(/\\$/, " ");
      if (!line.endsWith("\\")) {
        pieces.push({ text: pending, line: pendingLine });
        pending = "";
      }
      return;
    }
    for (const span of line.matchAll(/(`+)((?:(?!\1).)+?)\1/g)) pieces.push({ text: span[2], line: index + 1 });
  });
  const wecomEdge = [];
  const npmRun = [];
  for (const { text: raw, line } of pieces) {
    // Quoted text is an argument, not more of the command line (diagnose --curl "curl … --data-raw '<xml>'").
    const piece = raw.replace(/'[^']*'|"[^"]*"/g, "''");
    for (const match of piece.matchAll(/npx wecom-edge(?:\s+([^\s#|;&>)]+))?([^#|;&>]*)/g)) {
      const command = match[1];
      if (command === undefined || command.startsWith("<")) continue;
      const flags = [...match[2].matchAll(/(?:^|\s)(--[a-z][a-z0-9-]*)/g)].map((flag) => flag[1]);
      wecomEdge.push({ command, flags, line });
    }
    for (const match of piece.matchAll(/npm run(?:\s+([^\s#|;&>)`]+))?/g)) {
      if (match[1] === undefined || match[1].startsWith("<")) continue;
      npmRun.push({ script: match[1], line });
    }
  }
  return { wecomEdge, npmRun };
}
