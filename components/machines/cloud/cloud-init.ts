/**
 * Pure renderers for cloud-init: the first-boot settings the cloud and VirtualBox drivers hand to
 * their hosts. JSON is written after the `#cloud-config` line: it is valid YAML, and quoting is
 * then never a question.
 */

export interface CloudConfigArgs {
  /**
   * Let root log in with the instance's key (cloud-init's `disable_root: false`): dockfleet's
   * scripts run as root, as they do on the local and ssh drivers. Password login stays off.
   */
  allowRootKeyLogin: boolean;
  /** Public keys for root's authorized_keys (VirtualBox: there is no cloud key pair). */
  rootAuthorizedKeys?: string[];
  /** Host name to set. */
  hostname?: string;
  /**
   * Base URL of a mirror holding debian/, debian-security/ and ubuntu/ (e.g.
   * "https://mirrors.aliyun.com"): the image's apt sources are pointed at it on every boot.
   */
  aptMirror?: string;
}

/** The sed expression that points Debian and Ubuntu apt sources at a mirror. */
export function renderAptMirrorSed(mirror: string): string {
  const base = mirror.replace(/\/+$/, "");
  return [
    `s#https?://(deb|security)\\.debian\\.org/#${base}/#g`,
    `s#https?://([a-z]+\\.)?(archive|security)\\.ubuntu\\.com/#${base}/#g`,
  ]
    .map((expression) => `-e '${expression}'`)
    .join(" ");
}

/** Pure: user-data text (`#cloud-config` + JSON). */
export function renderCloudConfig(args: CloudConfigArgs): string {
  const config: Record<string, unknown> = {
    ssh_pwauth: false,
    disable_root: !args.allowRootKeyLogin,
  };
  if (args.hostname !== undefined) {
    config.hostname = args.hostname;
    config.preserve_hostname = false;
  }
  if (args.rootAuthorizedKeys !== undefined && args.rootAuthorizedKeys.length > 0) {
    config.users = [
      { name: "root", lock_passwd: true, ssh_authorized_keys: args.rootAuthorizedKeys },
    ];
  }
  if (args.aptMirror !== undefined) {
    // bootcmd runs before anything installs packages, on every boot (the sed is idempotent);
    // cloud-init is told to keep the sources it would otherwise regenerate from its template.
    config.apt = { preserve_sources_list: true };
    config.bootcmd = [
      [
        "sh",
        "-c",
        `for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; ` +
          `do [ -f "$f" ] && sed -i -E ${renderAptMirrorSed(args.aptMirror)} "$f"; done; true`,
      ],
    ];
  }
  return `#cloud-config\n${JSON.stringify(config, null, 2)}\n`;
}
