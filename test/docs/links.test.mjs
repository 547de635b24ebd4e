// Every relative link, image and #anchor in the docs resolves (docs/development.md,
// "The docs and their translations").
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { anchors, brokenLinks, docFiles, readRepo, ROOT, slug } from "./docs.mjs";

test("anchors are made as GitHub makes them", () => {
  assert.equal(slug("`keygen`: new credentials for an app"), "keygen-new-credentials-for-an-app");
  assert.equal(slug("`tail`: watch a pull app's events"), "tail-watch-a-pull-apps-events");
  assert.equal(slug("What happens when the intranet is down for an hour, a day, a week?"), "what-happens-when-the-intranet-is-down-for-an-hour-a-day-a-week");
  assert.equal(slug("The WECOM_APPS secret"), "the-wecom_apps-secret");
  assert.equal(slug("5. The domain verification file"), "5-the-domain-verification-file");
  assert.equal(slug("在企业微信中设置 (应用管理 → 接收消息)"), "在企业微信中设置-应用管理--接收消息");
  assert.equal(slug("[Rotating keys](#x) **now**"), "rotating-keys-now");
  assert.deepEqual([...anchors("# A\n## Same\n```sh\n# Same\n```\n## Same\n### Same ##\n")], ["a", "same", "same-1", "same-2"]);
});

test("a dead link, a dead anchor and a dead image are found; good ones are not", () => {
  const files = {
    "docs/a.md": "# A\n\n## Here it is\n\n[ok](#here-it-is) [ok](b.md#b-heading) [ok](../README.md) ![ok](pic.png)\n" +
      "[dead](missing.md) [dead anchor](#nowhere) [dead anchor](b.md#nowhere) ![dead image](gone.png) [not md](pic.png#x)\n" +
      "`[in code](missing-in-code.md)` [web](https://example.com/nothing) <img src=\"gone2.png\">\n```md\n[in a block](missing-in-block.md)\n```\n",
    "docs/b.md": "# B heading\n",
    "docs/pic.png": true,
    "README.md": "# R\n",
  };
  const read = (path) => files[path] ?? null;
  assert.deepEqual(brokenLinks("docs/a.md", files["docs/a.md"], read), [
    "docs/a.md:6: missing.md: docs/missing.md does not exist",
    "docs/a.md:6: #nowhere: docs/a.md has no heading with the anchor #nowhere",
    "docs/a.md:6: b.md#nowhere: docs/b.md has no heading with the anchor #nowhere",
    "docs/a.md:6: gone.png: docs/gone.png does not exist",
    "docs/a.md:6: pic.png#x: an anchor into docs/pic.png, which is not a Markdown file",
    "docs/a.md:7: gone2.png: docs/gone2.png does not exist",
  ]);
});

test("the docs are there", () => {
  const files = docFiles();
  for (const file of ["README.md", "CHANGELOG.md", "examples/README.md", "docs/configuration.md", "docs/delivery.md", "docs/replies.md",
    "docs/operating.md", "docs/deploying.md", "docs/troubleshooting.md", "docs/cli.md", "docs/architecture.md", "docs/local.md",
    "docs/development.md", "docs/faq.md"]) {
    assert.ok(files.includes(file), `${file} is missing`);
  }
});

for (const file of docFiles()) {
  test(`every relative link and anchor in ${file} resolves`, () => {
    const problems = brokenLinks(file, readFileSync(join(ROOT, file), "utf8"), readRepo);
    assert.deepEqual(problems, [], `broken links:\n${problems.join("\n")}`);
  });
}
