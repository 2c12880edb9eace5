// @ts-check
"use strict";
/**
 * What Pulumi runs for dockfleet's component package (package.json `main`): the Node.js language
 * host starts @pulumi/pulumi/cmd/run-plugin on this folder, which requires it. It loads the
 * TypeScript sources with dockfleet's own hook, as Pulumi.yaml's nodeargs do for the program
 * (PulumiPlugin.yaml options cannot name files: node runs in the consumer's project folder), and
 * serves the components of index.ts. The SDK infers their schema from index.ts (its default
 * entry point: this file's name is not index.js on purpose).
 */
require("../provision/dynamic/defer-sdk-modules.cjs");
require("../provision/dynamic/register-typescript.cjs");
const path = require("node:path");
const { componentProviderHost } = require("@pulumi/pulumi/provider/experimental");
const { namePackageRootInLoaders } = require("../provision/dynamic/provider-shim");
const { DockerHost, SwarmCluster } = require("./index");

namePackageRootInLoaders(path.resolve(__dirname, ".."));
module.exports = componentProviderHost({
  name: "dockfleet",
  version: require("../package.json").version,
  dirname: __dirname,
  components: [DockerHost, SwarmCluster],
});
