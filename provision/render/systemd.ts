/** Where apply-docker-config.sh installs the drop-in rendered by renderDockerDropIn. */
export const DOCKER_DROP_IN_PATH = "/etc/systemd/system/docker.service.d/dockfleet.conf";

/** The containerd socket that both Debian's docker.io and docker-ce units hand to dockerd. */
export const DEFAULT_CONTAINERD_SOCKET = "/run/containerd/containerd.sock";

export interface DockerDropInOptions {
  /**
   * containerd socket passed as --containerd. Debian's docker.io and docker-ce (apt and rpm)
   * units all start dockerd with the system containerd's socket; without the flag dockerd would
   * start a second containerd of its own. Give null to leave the flag out.
   * @default "/run/containerd/containerd.sock"
   */
  containerdSocket?: string | null;
}

/**
 * Renders a systemd drop-in for docker.service that replaces ExecStart with a dockerd taking no
 * -H flag, so that "hosts" in daemon.json is the only listener list. The packaged units start
 * `dockerd -H fd:// ...`, and dockerd refuses to start when a flag and daemon.json both set hosts.
 *
 * Debian's docker.io has dockerd at /usr/sbin/dockerd (and adds $DOCKER_OPTS from
 * /etc/default/docker); docker-ce has /usr/bin/dockerd. Flags from /etc/default/docker or
 * /etc/sysconfig/docker are deliberately not passed on: set such options in daemon.json.
 */
export function renderDockerDropIn(dockerdPath: string, options: DockerDropInOptions = {}): string {
  if (!/^\/[A-Za-z0-9._/-]+$/.test(dockerdPath)) {
    throw new Error(
      `renderDockerDropIn: dockerdPath is ${JSON.stringify(dockerdPath)}; give the absolute path of ` +
        `dockerd on the host (/usr/sbin/dockerd for Debian's docker.io, /usr/bin/dockerd for docker-ce; ` +
        `install-docker.sh prints it as dockerd=<path>).`,
    );
  }
  const containerdSocket =
    options.containerdSocket === undefined ? DEFAULT_CONTAINERD_SOCKET : options.containerdSocket;
  if (containerdSocket !== null && !/^\/[A-Za-z0-9._/-]+$/.test(containerdSocket)) {
    throw new Error(
      `renderDockerDropIn: containerdSocket is ${JSON.stringify(containerdSocket)}; give an absolute ` +
        `socket path such as "${DEFAULT_CONTAINERD_SOCKET}", or null to leave --containerd out.`,
    );
  }
  const command =
    containerdSocket === null ? dockerdPath : `${dockerdPath} --containerd=${containerdSocket}`;
  return [
    '# Managed by dockfleet. daemon.json holds every dockerd setting, "hosts" included, so',
    "# ExecStart is cleared and dockerd runs without -H (a flag and the file may not both set it).",
    "[Service]",
    "ExecStart=",
    `ExecStart=${command}`,
    "",
  ].join("\n");
}
