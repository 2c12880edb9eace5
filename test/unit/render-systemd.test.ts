import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DOCKER_CONFIG_STAGING_DIR,
  INSTALLED_PATH_OF_STAGED_FILE,
  planDockerConfigUploads,
  renderDockerDropIn,
} from "../../components/engine/plan";

describe("renderDockerDropIn", () => {
  it("clears ExecStart and starts Debian's dockerd without -H, on the system containerd", () => {
    assert.equal(
      renderDockerDropIn("/usr/sbin/dockerd"),
      `# Managed by dockfleet. daemon.json holds every dockerd setting, "hosts" included, so
# ExecStart is cleared and dockerd runs without -H (a flag and the file may not both set it).
[Service]
ExecStart=
ExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock
`,
    );
  });

  it("uses docker-ce's path as given and never adds -H", () => {
    const dropIn = renderDockerDropIn("/usr/bin/dockerd");
    assert.match(
      dropIn,
      /^ExecStart=\/usr\/bin\/dockerd --containerd=\/run\/containerd\/containerd.sock$/m,
    );
    const execStartLines = dropIn.split("\n").filter((line) => line.startsWith("ExecStart="));
    assert.deepEqual(execStartLines.slice(0, 1), ["ExecStart="]);
    for (const line of execStartLines) assert.doesNotMatch(line, / -H|--host|fd:\/\//);
  });

  it("can leave --containerd out", () => {
    assert.match(
      renderDockerDropIn("/usr/bin/dockerd", { containerdSocket: null }),
      /^ExecStart=\/usr\/bin\/dockerd$/m,
    );
  });

  it("refuses a relative or odd dockerd path, saying where to find the right one", () => {
    assert.throws(
      () => renderDockerDropIn("dockerd"),
      /dockerdPath is "dockerd"; give the absolute path.*dockerd=<path>/,
    );
    assert.throws(() => renderDockerDropIn("/usr/bin/dockerd -H tcp://0.0.0.0"), /dockerdPath is/);
  });
});

describe("planDockerConfigUploads", () => {
  it("stages every file under the names apply-docker-config.sh reads, the key at 0600", () => {
    const uploads = planDockerConfigUploads({
      daemonJson: "{}\n",
      dropIn: "[Service]\n",
      tls: { caPem: "CA", serverCertPem: "CERT", serverKeyPem: "KEY" },
    });
    assert.deepEqual(
      uploads.map((u) => [u.path, u.mode.toString(8), u.secret]),
      [
        [`${DOCKER_CONFIG_STAGING_DIR}/daemon.json`, "644", false],
        [`${DOCKER_CONFIG_STAGING_DIR}/dockfleet.conf`, "644", false],
        [`${DOCKER_CONFIG_STAGING_DIR}/ca.pem`, "644", false],
        [`${DOCKER_CONFIG_STAGING_DIR}/server-cert.pem`, "644", false],
        [`${DOCKER_CONFIG_STAGING_DIR}/server-key.pem`, "600", true],
      ],
    );
    assert.equal(uploads.find((u) => u.secret)?.content, "KEY");
    for (const upload of uploads) {
      assert.ok(INSTALLED_PATH_OF_STAGED_FILE[upload.path.split("/").at(-1) ?? ""], upload.path);
    }
  });

  it("stages no TLS files when there is no TLS", () => {
    assert.equal(planDockerConfigUploads({ daemonJson: "{}\n", dropIn: "" }).length, 2);
  });
});
