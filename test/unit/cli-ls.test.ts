import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type EngineProbe, swarmRoleOf } from "../../cli/docker-api";
import { machineState } from "../../cli/host-state";
import {
  earliestExpiry,
  formatExpiry,
  hostStatus,
  renderHostTable,
  renderSharedCertificates,
} from "../../cli/ls";
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
  certificates: [
    { use: "docker", notAfter: "2029-03-07T10:00:00.000Z", serialNumber: "1a" },
    { use: "etcd", notAfter: "2029-03-05T09:00:00.000Z", serialNumber: "2b" },
  ],
};
const NOW = new Date("2027-01-01T00:00:00Z");

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

  it("prefers the live engine's version, keeps the reason a host is unreachable, shows stopped hosts as stopped", () => {
    const probed = (probe: EngineProbe) => ({
      ...machineState({ state: "running" }, probe),
      reachable: probe.reachable,
    });
    const upProbe = { reachable: true, serverVersion: "20.10.24", swarmRole: "manager" as const };
    const up = hostStatus(host, probed(upProbe), upProbe);
    assert.equal(up.dockerVersion, "20.10.24");
    assert.equal(up.swarmRole, "manager");
    assert.equal(up.state, "Running");
    const downProbe = { reachable: false, error: "connect ECONNREFUSED" };
    const down = hostStatus({ ...host, name: "host-2" }, probed(downProbe), downProbe);
    assert.equal(down.dockerVersion, host.dockerVersion);
    assert.equal(down.state, "Error");
    assert.equal(down.error, "Docker API: connect ECONNREFUSED");
    const olderProbe = { reachable: true, serverVersion: "20.10.24" };
    const older = hostStatus(
      { ...host, name: "host-3", certificates: undefined },
      probed(olderProbe),
      olderProbe,
    );
    const stopped = hostStatus(
      { ...host, name: "host-4" },
      { ...machineState({ state: "stopped" }, undefined), reachable: false },
      undefined,
    );
    assert.equal(stopped.error, null, "a stopped host is not broken");
    assert.equal(
      renderHostTable([up, down, older, stopped], NOW),
      [
        "NAME     DRIVER   ADDRESS        STATE     REACHABLE   DOCKER                     SWARM     CERTS EXPIRE   ERRORS",
        "host-1   local    172.30.80.10   Running   yes         20.10.24                   manager   2029-03-05",
        "host-2   local    172.30.80.10   Error     no          20.10.24+dfsg1-1+deb12u1   -         2029-03-05     Docker API: connect ECONNREFUSED",
        "host-3   local    172.30.80.10   Running   yes         20.10.24                   -         -",
        "host-4   local    172.30.80.10   Stopped   no          20.10.24+dfsg1-1+deb12u1   -         2029-03-05",
      ].join("\n"),
    );
    assert.deepEqual(up.certificates, host.certificates, "--format json lists every certificate");
  });

  it("shows when certificates expire: the first of a host's, the time when soon, expired ones", () => {
    assert.equal(earliestExpiry(host.certificates ?? []), "2029-03-05T09:00:00.000Z");
    assert.equal(earliestExpiry([]), null);
    assert.equal(formatExpiry("2029-03-05T09:00:00.000Z", NOW), "2029-03-05");
    assert.equal(formatExpiry("2027-01-01T00:03:00.000Z", NOW), "2027-01-01 00:03Z");
    assert.equal(formatExpiry("2026-12-31T23:00:00.000Z", NOW), "expired 2026-12-31 23:00Z");
    assert.equal(formatExpiry(null, NOW), "-");
    assert.equal(
      renderSharedCertificates(
        [
          { use: "ca", notAfter: "2036-11-30T13:50:25.000Z", serialNumber: "1" },
          { use: "docker-client", notAfter: "2029-03-07T10:00:00.000Z", serialNumber: "2" },
        ],
        NOW,
      ),
      "ca expires 2036-11-30, docker-client expires 2029-03-07",
    );
  });
});
