// Each translation names the English file it follows and the commit it was
// translated from; it fails once that English file has changed since
// (docs/development.md, "The docs and their translations").
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT, translationFiles } from "./docs.mjs";

const MARKER = /^<!-- translation-of: (\S+) @ ([0-9a-f]{7,40}) -->$/;

/** The marker on a translation's first line, or why there is none. */
export function marker(text) {
  const first = text.split("\n", 1)[0].trim();
  const match = MARKER.exec(first);
  if (!match) return { problem: `its first line must be <!-- translation-of: <English file> @ <commit> -->, not ${JSON.stringify(first.slice(0, 80))}` };
  return { source: match[1], commit: match[2] };
}

function git(...args) {
  return execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Whether the repository is a git checkout with history: the check needs `git log`. */
function inGit() {
  try {
    return git("rev-parse", "--is-inside-work-tree").trim() === "true" && git("rev-parse", "--verify", "HEAD").trim() !== "";
  } catch {
    return false;
  }
}

/** The commits that changed `source` after `commit`, or why that cannot be told. */
export function changesSince(source, commit) {
  try {
    git("cat-file", "-e", `${commit}^{commit}`);
  } catch {
    return { problem: `commit ${commit} is not in this repository (a shallow clone? CI clones fully)` };
  }
  return { commits: git("log", "--format=%h %s", `${commit}..HEAD`, "--", source).split("\n").filter(Boolean) };
}

test("the marker is read from the first line", () => {
  assert.deepEqual(marker("<!-- translation-of: docs/deploying.md @ 1a2b3c4 -->\n# 部署"), { source: "docs/deploying.md", commit: "1a2b3c4" });
  assert.deepEqual(marker("# 部署\n<!-- translation-of: docs/deploying.md @ 1a2b3c4 -->"), {
    problem: 'its first line must be <!-- translation-of: <English file> @ <commit> -->, not "# 部署"',
  });
  assert.ok("problem" in marker("<!-- translation-of: docs/deploying.md @ HEAD -->"));
});

test("this is a git checkout with history, so translations can be checked", () => {
  assert.ok(inGit(), "not a git checkout: the translations' markers can only be checked in a git clone with its history (git log); run the tests in a clone");
});

/** What is wrong with a translation, `file` with its `text`: [] when it follows the current English. */
export function translationProblems(file, text) {
  if (!inGit()) return [`${file}: not a git checkout, so whether the English changed since the translation cannot be told; run the tests in a git clone`];
  const found = marker(text);
  if ("problem" in found) return [`${file}: ${found.problem}`];
  if (!existsSync(join(ROOT, found.source))) return [`${file} names ${found.source}, which does not exist`];
  if (found.source.includes("zh-CN")) return [`${file} names ${found.source}, which is a translation, not an English file`];
  const since = changesSince(found.source, found.commit);
  if ("problem" in since) return [`${file}: ${since.problem}`];
  if (since.commits.length === 0) return [];
  const latest = git("log", "-1", "--format=%h", "--", found.source).trim();
  return [
    `${found.source} changed after ${found.commit}, the commit ${file} was translated from:\n  ${since.commits.join("\n  ")}\n` +
      `Re-translate ${file}: bring over those changes (git diff ${found.commit} HEAD -- ${found.source}), then set its first line to ` +
      `<!-- translation-of: ${found.source} @ ${latest} -->`,
  ];
}

test("a translation of an English file that changed since its commit fails, and says what to do", () => {
  const first = git("log", "--reverse", "--format=%h", "--", "package.json").split("\n")[0];
  const head = git("log", "-1", "--format=%h", "--", "package.json").trim();
  const stale = translationProblems("docs/zh-CN/x.md", `<!-- translation-of: package.json @ ${first} -->\n# x`);
  assert.equal(stale.length, 1);
  assert.match(stale[0], new RegExp(`^package\\.json changed after ${first}, the commit docs/zh-CN/x\\.md was translated from:\n  [0-9a-f]{7,} `));
  assert.ok(stale[0].endsWith(`set its first line to <!-- translation-of: package.json @ ${head} -->`), stale[0]);
  assert.deepEqual(translationProblems("docs/zh-CN/x.md", `<!-- translation-of: package.json @ ${head} -->\n# x`), []);
  assert.deepEqual(translationProblems("docs/zh-CN/x.md", "<!-- translation-of: package.json @ 0000000 -->"), [
    "docs/zh-CN/x.md: commit 0000000 is not in this repository (a shallow clone? CI clones fully)",
  ]);
  assert.deepEqual(translationProblems("docs/zh-CN/x.md", `<!-- translation-of: docs/nosuch.md @ ${head} -->`), [
    "docs/zh-CN/x.md names docs/nosuch.md, which does not exist",
  ]);
});

for (const file of translationFiles()) {
  test(`${file} follows the current English`, () => {
    const problems = translationProblems(file, readFileSync(join(ROOT, file), "utf8"));
    assert.deepEqual(problems, [], problems.join("\n"));
  });
}
