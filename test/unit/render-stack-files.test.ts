import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { AppsConfigSchema } from "../../components/apps/config";
import { layerProgress, planPushTarget } from "../../components/apps/resources/app-image-push";
import { renderProgress } from "../../provision/dynamic/progress";
import {
  planStackSecrets,
  resolveStackFile,
  secretNamePlaceholder,
  swarmSecretName,
} from "../../components/apps/resources/swarm-stack";
import {
  renderCounterStackFile,
  renderWordPressStackFile,
  renderYaml,
} from "../../components/apps/plan";

const COUNTER = {
  webImage: "10.0.0.5:5000/dockfleet/apps-counter@sha256:" + "a".repeat(64),
  redisImage: "10.0.0.5:5000/dockfleet/apps-redis@sha256:" + "b".repeat(64),
  port: 8000,
  replicas: 3,
  publishMode: "ingress" as const,
};

const WORDPRESS = {
  wordpressImage: "dockfleet/apps-wordpress:latest",
  databaseImage: "dockfleet/apps-mariadb:latest",
  port: 8080,
  publishMode: "ingress" as const,
  passwordSecretName: secretNamePlaceholder("db_password"),
  databaseConstraints: [],
};

const restartPolicy = { condition: "any", delay: "5s" };

describe("renderYaml", () => {
  it("quotes every string so that nothing reads back as a number or boolean", () => {
    const yaml = renderYaml({ a: "8000", b: 8000, c: "true", d: ["x", { e: "no" }], f: {} });
    assert.equal(
      yaml,
      ['a: "8000"', "b: 8000", 'c: "true"', "d:", '  - "x"', '  - e: "no"', "f: {}", ""].join("\n"),
    );
  });

  it("renders a list of maps with the keys of each item aligned", () => {
    const yaml = renderYaml({ ports: [{ target: 80, published: 8080 }] });
    assert.equal(yaml, "ports:\n  - target: 80\n    published: 8080\n");
  });

  it("escapes quotes and newlines in strings", () => {
    assert.equal(renderYaml({ a: 'say "hi"\nnow' }), 'a: "say \\"hi\\"\\nnow"\n');
  });

  it("reads back as the data it was made from, whatever the strings hold", () => {
    const data = {
      "key with space": "é 中文 😀",
      "0": ["null", "~", "yes", "- x", "a: b", "#c", "tab\tand\u0001", ""],
      nested: [[1, -2.5], [], {}, [{ x: [] }]],
      shared: [restartPolicy, restartPolicy],
    };
    const yaml = renderYaml(data);
    assert.deepEqual(parse(yaml), data);
    assert.doesNotMatch(yaml, /[&*]a1/, "no anchors or aliases");
  });
});

describe("renderCounterStackFile", () => {
  it("publishes the web port through the routing mesh with replicas spread over nodes", () => {
    assert.equal(
      renderCounterStackFile(COUNTER),
      `version: "3.8"
services:
  web:
    image: "${COUNTER.webImage}"
    environment:
      REDIS_HOST: "redis"
      REDIS_PORT: "6379"
    ports:
      - target: 5000
        published: 8000
        protocol: "tcp"
        mode: "ingress"
    deploy:
      replicas: 3
      placement:
        preferences:
          - spread: "node.id"
      labels:
        dockfleet.io/app: "counter"
      restart_policy:
        condition: "any"
        delay: "5s"
      update_config:
        parallelism: 1
        order: "start-first"
  redis:
    image: "${COUNTER.redisImage}"
    volumes:
      - "redis-data:/data"
    deploy:
      replicas: 1
      endpoint_mode: "dnsrr"
      labels:
        dockfleet.io/app: "counter"
      restart_policy:
        condition: "any"
        delay: "5s"
volumes:
  redis-data: {}
`,
    );
  });

  it("runs one web task per node binding the port in host mode", () => {
    const yaml = renderCounterStackFile({ ...COUNTER, publishMode: "host" });
    assert.match(yaml, /mode: "host"\n {4}deploy:\n {6}mode: "global"\n {6}endpoint_mode: "dnsrr"/);
    assert.doesNotMatch(yaml, /replicas: 3/);
    assert.doesNotMatch(yaml, /"ingress"/);
    assert.match(yaml, /order: "stop-first"/);
  });

  it("refuses a port outside 1-65535", () => {
    assert.throws(
      () => renderCounterStackFile({ ...COUNTER, port: 70000 }),
      /published port 70000 is not a TCP port/,
    );
  });
});

describe("renderWordPressStackFile", () => {
  const yaml = renderWordPressStackFile(WORDPRESS);

  it("gives both services the password only as a secret file", () => {
    assert.equal(yaml.match(/- "db_password"/g)?.length, 2);
    assert.match(yaml, /MARIADB_PASSWORD_FILE: "\/run\/secrets\/db_password"/);
    assert.match(yaml, /WORDPRESS_DB_PASSWORD_FILE: "\/run\/secrets\/db_password"/);
    assert.doesNotMatch(yaml, /PASSWORD: /);
    assert.match(
      yaml,
      /secrets:\n {2}db_password:\n {4}external: true\n {4}name: "@@dockfleet-secret-name:db_password@@"/,
    );
  });

  it("keeps the database and wp-content on volumes", () => {
    assert.match(yaml, /- "db-data:\/var\/lib\/mysql"/);
    assert.match(yaml, /- "wp-content:\/var\/lib\/wordpress\/wp-content"/);
    assert.match(yaml, /volumes:\n {2}db-data: \{\}\n {2}wp-content: \{\}\n$/);
  });

  it("publishes Apache's port 80 and pins the database where asked", () => {
    assert.match(yaml, /- target: 80\n {8}published: 8080/);
    assert.doesNotMatch(yaml, /constraints/);
    const pinned = renderWordPressStackFile({
      ...WORDPRESS,
      databaseConstraints: ["node.hostname == host-1"],
    });
    assert.match(pinned, /constraints:\n {10}- "node.hostname == host-1"/);
  });
});

describe("stack secrets", () => {
  it("generates a missing value once and keeps it, with a new version only on change", () => {
    let generated = 0;
    const generate = () => `generated-${++generated}`;
    const first = planStackSecrets({ db_password: "" }, undefined, generate);
    assert.deepEqual(first, {
      values: { db_password: "generated-1" },
      versions: { db_password: 1 },
    });
    const again = planStackSecrets(
      { db_password: "" },
      { secretValues: first.values, secretVersions: first.versions },
      generate,
    );
    assert.deepEqual(again, first);
    const changed = planStackSecrets(
      { db_password: "chosen" },
      { secretValues: first.values, secretVersions: first.versions },
      generate,
    );
    assert.deepEqual(changed, { values: { db_password: "chosen" }, versions: { db_password: 2 } });
  });

  it("puts the versioned name where the placeholder is, and refuses an unknown secret", () => {
    const file = `name: "${secretNamePlaceholder("db_password")}"\n`;
    assert.equal(
      resolveStackFile("wordpress", file, { db_password: 3 }),
      'name: "wordpress_db_password_v3"\n',
    );
    assert.equal(swarmSecretName("wp", "db_password", 1), "wp_db_password_v1");
    assert.throws(
      () => resolveStackFile("wordpress", file, {}),
      /refers to secret "db_password", which is not in the stack's secrets \(none\)/,
    );
  });
});

describe("layerProgress", () => {
  it("counts skopeo's blob lines against the image's layers, and nothing else", () => {
    // Recorded from skopeo 1.9.3 copying a two-layer image, not on a terminal.
    const lines = [
      "Getting image source signatures",
      "Copying blob sha256:b5d8a266fa21192efd61ce865406cbfd1bce29fb4e410769e22418975be74738",
      "Copying blob sha256:858966a3a78637092436342f13c506705ee7c9133e932e28db5d6965a2ea5b82",
      "Copying config sha256:2612913ae9bd839043729960832bb42c8c3ca65fb57e2d682763b45ca63b844f",
      "Writing manifest to image destination",
    ];
    let copied = 0;
    const shown: string[] = [];
    for (const line of lines) {
      const progress = layerProgress(line, copied + 1, 2);
      if (progress === undefined) continue;
      copied += 1;
      shown.push(renderProgress(progress));
    }
    assert.deepEqual(shown, [
      "layers 1/2 (copying b5d8a266fa21)",
      "layers 2/2 (copying 858966a3a786)",
    ]);
    assert.equal(
      renderProgress(layerProgress("Copying blob sha256:858966a3a78637092436", 3, 2)!),
      "layers 3/3 (copying 858966a3a786)",
      "more blobs than layers counted: the total grows",
    );
  });
});

describe("planPushTarget", () => {
  it("keeps the repository path and tag under the registry", () => {
    assert.equal(
      planPushTarget("dockfleet/apps-counter:1a2b", "10.0.0.5:5000"),
      "10.0.0.5:5000/dockfleet/apps-counter:1a2b",
    );
    assert.equal(planPushTarget("redis", "r:5000"), "r:5000/redis:latest");
    assert.equal(planPushTarget("old.example.com:5000/team/web:2", "r:5000"), "r:5000/team/web:2");
  });
});

describe("AppsConfigSchema", () => {
  it("fills every default", () => {
    const config = AppsConfigSchema.parse({});
    assert.equal(config.publishMode, "ingress");
    assert.equal(config.pushImages, true);
    assert.deepEqual(
      [config.counter.stackName, config.counter.port, config.counter.replicas],
      ["counter", 8000, 3],
    );
    assert.equal(config.counter.webImage, "dockfleet/apps-counter:latest");
    assert.deepEqual(
      [config.wordpress.stackName, config.wordpress.port, config.wordpress.databaseImage],
      ["wordpress", 8080, "dockfleet/apps-mariadb:latest"],
    );
  });

  it("names the key and the allowed values of a bad setting", () => {
    const result = AppsConfigSchema.safeParse({ publishMode: "mesh", counter: { port: 0 } });
    assert.equal(result.success, false);
    const paths = result.error?.issues.map((issue) => issue.path.join("."));
    assert.deepEqual(paths?.sort(), ["counter.port", "publishMode"]);
    assert.match(JSON.stringify(result.error?.issues), /ingress.*host/);
    assert.equal(AppsConfigSchema.safeParse({ counter: { webImage: "Bad Image" } }).success, false);
    assert.equal(AppsConfigSchema.safeParse({ extra: 1 }).success, false);
  });
});
