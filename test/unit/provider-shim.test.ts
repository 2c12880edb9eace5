import assert from "node:assert/strict";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { DOCKER_CONFIG_INPUTS, loadSerializedProvider } from "./fixtures/serialized-provider";

/**
 * Where a serialized provider finds dockfleet's code: the dynamic-provider process runs in the
 * program's folder, which is dockfleet's checkout (any clone) or a consumer's project with
 * dockfleet in node_modules. Here the published build (dist/, made by `npm run build`, which
 * bin/test runs first) is loaded from a consumer's folder, as Pulumi would load it.
 */

const ROOT = path.resolve(__dirname, "..", "..");
const load = createRequire(__filename);

describe("provider loader", () => {
  it("loads the published package's provider from a consumer's node_modules", async () => {
    const shim = path.join(ROOT, "dist", "provision", "dynamic", "provider-shim.js");
    assert.ok(fs.existsSync(shim), "dist/ is built (npm run build)");
    const { providerModuleText } = load(
      shim,
    ) as typeof import("../../provision/dynamic/provider-shim");
    const moduleFile = path.join(
      ROOT,
      "dist",
      "components",
      "engine",
      "resources",
      "docker-config.js",
    );
    const text = providerModuleText(moduleFile, "dockerConfigProvider");
    assert.match(text, /relativeModule = "dist\/components\/engine\/resources\/docker-config\.js"/);
    assert.ok(!text.includes(ROOT), "no folder of this machine in what goes into state");

    const consumer = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-consumer-"));
    fs.writeFileSync(path.join(consumer, "package.json"), '{"name":"my-infra","private":true}\n');
    fs.mkdirSync(path.join(consumer, "node_modules"));
    fs.symlinkSync(ROOT, path.join(consumer, "node_modules", "dockfleet"));
    const cwd = process.cwd();
    try {
      process.chdir(consumer);
      const loaded = loadSerializedProvider(text);
      assert.equal(
        (await loaded.diff("id", DOCKER_CONFIG_INPUTS, DOCKER_CONFIG_INPUTS)).changes,
        false,
      );
      assert.equal(
        (
          await loaded.diff("id", DOCKER_CONFIG_INPUTS, {
            ...DOCKER_CONFIG_INPUTS,
            daemonJson: "{ }",
          })
        ).changes,
        true,
      );
    } finally {
      process.chdir(cwd);
      fs.rmSync(consumer, { recursive: true, force: true });
    }
  });

  it("finds dockfleet from anywhere in the text of the component provider (a folder hint)", async () => {
    const { loaderText } = await import("../../provision/dynamic/provider-shim");
    const relativeModule = "components/engine/resources/docker-config.ts";
    const plain = loaderText(relativeModule, "dockerConfigProvider");
    assert.equal(
      loaderText(relativeModule, "dockerConfigProvider", undefined),
      plain,
      "without a hint, the text is what states hold already",
    );
    const text = loaderText(relativeModule, "dockerConfigProvider", ROOT);
    assert.ok(text.includes(JSON.stringify(ROOT)));
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-yaml-project-"));
    const cwd = process.cwd();
    try {
      process.chdir(elsewhere);
      const loaded = loadSerializedProvider(text);
      assert.equal(
        (await loaded.diff("id", DOCKER_CONFIG_INPUTS, DOCKER_CONFIG_INPUTS)).changes,
        false,
      );
    } finally {
      process.chdir(cwd);
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("says where it looked when dockfleet is nowhere to be found", async () => {
    const { loaderText } = await import("../../provision/dynamic/provider-shim");
    const text = loaderText("components/engine/resources/docker-config.ts", "dockerConfigProvider");
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-elsewhere-"));
    const cwd = process.cwd();
    try {
      process.chdir(elsewhere);
      const loaded = loadSerializedProvider(text);
      await assert.rejects(
        async () => loaded.diff("id", DOCKER_CONFIG_INPUTS, DOCKER_CONFIG_INPUTS),
        new RegExp(`dockfleet's package is neither at nor above ${elsewhere}`),
      );
    } finally {
      process.chdir(cwd);
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
