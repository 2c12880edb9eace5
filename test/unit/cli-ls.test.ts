import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { swarmRoleOf } from "../../cli/docker-api";
import { hostStatus, renderHostTable } from "../../cli/ls";
import type { HostOutput } from "../../components/stack/outputs";

const host: HostOutput = {
  name: "host-1",
  driver: "local",
  address: "172.30.80.10",
  privateAddress: "172.30.80.10",
  dockerHost: "tcp://172.30.80.10:2376",
  dockerVersion: "20.10.24+dfsg1-1+deb12u1",
  sshUser: "root",
  sshPort: 22,
  hostKey: "ssh-ed25519 AAAAkey",
  sshCommand: "ssh -i .dockfleet/dev/id_ed25519 -p 22 root@172.30.80.10",
};

describe("dockfleet ls", () => {
  it("reads the swarm role from docker info", () => {
    assert.equal(
      swarmRoleOf({ Swarm: { LocalNodeState: "active", ControlAvailable: true } }),
      "manager",
    );
    assert.equal(
      swarmRoleOf({ Swarm: { LocalNodeState: "active", ControlAvailable: false } }),
      "worker",
    );
    assert.equal(swarmRoleOf({ Swarm: { LocalNodeState: "inactive" } }), undefined);
    assert.equal(swarmRoleOf({}), undefined);
  });

  it("prefers the live engine's version and keeps the reason a host is unreachable", () => {
    const up = hostStatus(host, {
      reachable: true,
      serverVersion: "20.10.24",
      swarmRole: "manager",
    });
    assert.equal(up.dockerVersion, "20.10.24");
    assert.equal(up.swarmRole, "manager");
    const down = hostStatus(
      { ...host, name: "host-2" },
      { reachable: false, error: "connect ECONNREFUSED" },
    );
    assert.equal(down.dockerVersion, host.dockerVersion);
    assert.equal(down.error, "connect ECONNREFUSED");
    assert.equal(
      renderHostTable([up, down]),
      [
        "NAME     DRIVER   ADDRESS        REACHABLE   DOCKER                     SWARM     ERRORS",
        "host-1   local    172.30.80.10   yes         20.10.24                   manager",
        "host-2   local    172.30.80.10   no          20.10.24+dfsg1-1+deb12u1   -         connect ECONNREFUSED",
      ].join("\n"),
    );
  });
});
