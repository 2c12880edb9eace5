import { dockerExec } from "./docker";

/**
 * Installs Debian's sudo in a host container (the host image has none), from the Debian mirror
 * the containers reach through Docker's NAT.
 */
export async function installSudo(container: string): Promise<void> {
  await dockerExec(
    container,
    "apt-get -q update >/dev/null && " +
      "DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends sudo >/dev/null",
    { timeoutMs: 300_000 },
  );
}

/**
 * Adds a login user to a host container who logs in with `publicKey`, as an operator would: a
 * home of its own, bash, and with `passwordlessSudo` the sudoers line dockfleet asks for.
 */
export async function addLoginUser(
  container: string,
  user: string,
  publicKey: string,
  { passwordlessSudo }: { passwordlessSudo: boolean },
): Promise<void> {
  const sudoers = passwordlessSudo
    ? `echo '${user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/${user} && ` +
      `chmod 0440 /etc/sudoers.d/${user} && visudo -cqf /etc/sudoers.d/${user} && `
    : "";
  // "*": no password, yet not locked (sshd refuses key logins to a locked account without PAM).
  await dockerExec(
    container,
    `useradd --create-home --shell /bin/bash --password '*' ${user} && ${sudoers}` +
      `install -d -m 0700 -o ${user} -g ${user} /home/${user}/.ssh && ` +
      `echo '${publicKey}' > /home/${user}/.ssh/authorized_keys && ` +
      `chown ${user}: /home/${user}/.ssh/authorized_keys`,
  );
}
