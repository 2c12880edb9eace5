import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { contextName, renderDockerEndpoint } from "../../cli/context";
import { detectShell, renderShellEnv } from "../../cli/env";

const variables = {
  DOCKER_TLS_VERIFY: "1",
  DOCKER_HOST: "tcp://172.30.80.10:2376",
  DOCKER_CERT_PATH: "/home/o'brien/dockfleet/.dockfleet/dev",
  DOCKFLEET_STACK: "dev",
  DOCKFLEET_HOST_NAME: "host-1",
};
const selfCommand = "dockfleet env -s dev host-1";

describe("dockfleet env", () => {
  it("prints bash lines that bash reads back exactly, with docker-machine's hint", () => {
    const text = renderShellEnv("bash", variables, { unset: false, selfCommand });
    assert.equal(
      text,
      [
        "export DOCKER_TLS_VERIFY='1'",
        "export DOCKER_HOST='tcp://172.30.80.10:2376'",
        "export DOCKER_CERT_PATH='/home/o'\\''brien/dockfleet/.dockfleet/dev'",
        "export DOCKFLEET_STACK='dev'",
        "export DOCKFLEET_HOST_NAME='host-1'",
        "# Run this command to configure your shell:",
        '# eval "$(dockfleet env -s dev host-1)"',
        "",
      ].join("\n"),
    );
    const echoed = execFileSync(
      "bash",
      ["-c", `${text}\nprintf '%s|%s' "$DOCKER_CERT_PATH" "$DOCKER_HOST"`],
      {
        encoding: "utf8",
      },
    );
    assert.equal(echoed, `${variables.DOCKER_CERT_PATH}|${variables.DOCKER_HOST}`);
  });

  it("prints fish and PowerShell forms", () => {
    const fish = renderShellEnv("fish", variables, { unset: false, selfCommand });
    assert.match(fish, /^set -gx DOCKER_TLS_VERIFY '1';$/m);
    assert.match(
      fish,
      /^set -gx DOCKER_CERT_PATH '\/home\/o\\'brien\/dockfleet\/\.dockfleet\/dev';$/m,
    );
    assert.match(fish, /^# eval \(dockfleet env -s dev host-1\)$/m);
    const powershell = renderShellEnv("powershell", variables, { unset: false, selfCommand });
    assert.match(powershell, /^\$Env:DOCKER_HOST = 'tcp:\/\/172\.30\.80\.10:2376'$/m);
    assert.match(
      powershell,
      /^\$Env:DOCKER_CERT_PATH = '\/home\/o''brien\/dockfleet\/\.dockfleet\/dev'$/m,
    );
    assert.match(powershell, /^# & dockfleet env -s dev host-1 \| Invoke-Expression$/m);
  });

  it("--unset removes every variable it sets, in each shell", () => {
    const names = Object.keys(variables);
    const bash = renderShellEnv("bash", {}, { unset: true, selfCommand: "dockfleet env --unset" });
    assert.deepEqual(
      bash.split("\n").slice(0, names.length),
      names.map((name) => `unset ${name}`),
    );
    const fish = renderShellEnv("fish", {}, { unset: true, selfCommand: "x" });
    assert.match(fish, /^set -e DOCKER_HOST;$/m);
    const powershell = renderShellEnv("powershell", {}, { unset: true, selfCommand: "x" });
    assert.match(powershell, /^Remove-Item Env:\\DOCKER_CERT_PATH -ErrorAction SilentlyContinue$/m);
    const cleared = execFileSync(
      "bash",
      [
        "-c",
        `export DOCKER_HOST=x DOCKFLEET_STACK=y\n${bash}\necho "[\${DOCKER_HOST:-}\${DOCKFLEET_STACK:-}]"`,
      ],
      { encoding: "utf8" },
    );
    assert.equal(cleared.trim(), "[]");
  });

  it("detects the shell from $SHELL, bash otherwise", () => {
    assert.equal(detectShell("/usr/bin/fish"), "fish");
    assert.equal(detectShell("/bin/zsh"), "zsh");
    assert.equal(detectShell("/usr/bin/pwsh"), "powershell");
    assert.equal(detectShell("/bin/sh"), "bash");
    assert.equal(detectShell(undefined), "bash");
  });
});

describe("dockfleet context", () => {
  it("names the context after stack and host and points it at the TLS files", () => {
    assert.equal(contextName("dev", "host-1"), "dockfleet-dev-host-1");
    assert.equal(
      renderDockerEndpoint("tcp://10.0.0.5:2376", "/srv/dockfleet/.dockfleet/dev"),
      "host=tcp://10.0.0.5:2376,ca=/srv/dockfleet/.dockfleet/dev/ca.pem," +
        "cert=/srv/dockfleet/.dockfleet/dev/cert.pem,key=/srv/dockfleet/.dockfleet/dev/key.pem",
    );
  });
});
