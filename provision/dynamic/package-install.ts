import type * as pulumi from "@pulumi/pulumi";
import type { SshClient } from "../ssh/client";
import type { SshConnectionArgs } from "../ssh/types";
import type { StepLog } from "./log";
import type { FactsProbe } from "./host-facts";
import { withProcessLock } from "./process-lock";
import { runRemoteStep, runScript, runUndoStep } from "./remote-step";
import { remoteStepProvider } from "./remote-step-provider";
import type { ResourceArgs } from "./resource";

/** What every package install step keeps: where, which script, with which parameters. */
export interface PackageInstallInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** The component's install script, sent over stdin. */
  script: string;
  /** The script's parameters. */
  env: Record<string, string>;
  /** On delete, run the script again with `<actionVariable>=remove`. */
  removeOnDestroy: boolean;
  /**
   * A request to upgrade the packages (`dockfleet upgrade`): a new value runs the script in its
   * upgrade mode once; its absence changes nothing (the last request is kept in the state).
   */
  upgradeRequest?: string;
}

/** What a package install resource is given (its inputs, some still to be resolved). */
export type PackageInstallArgs = ResourceArgs<PackageInstallInputs>;

/** Inputs whose change runs the script again (it installs only what differs) or is just kept. */
const UPDATE_KEYS = ["script", "env", "removeOnDestroy"] as const;

export interface PackageInstallSpec<Outputs> {
  /** What is installed, for step names and ids ("docker", "etcd"). */
  what: string;
  /** The script's variable that turns it into a removal ("DOCKER_ACTION"). */
  actionVariable: string;
  /** The outputs from the inputs and the script's DOCKFLEET_RESULT fields; throws when one is missing. */
  outputs: (inputs: PackageInstallInputs, result: Record<string, string>) => Outputs;
  /** What shows the packages installed (host-facts.ts): the programs' paths and versions. */
  probe: FactsProbe;
  /**
   * How an upgrade runs: the script's variables that ask for one, and what wraps the run on the
   * host (a swarm's hosts take turns, each back in the swarm before the next).
   */
  upgrade?: {
    env: Record<string, string>;
    wrap: (
      client: SshClient,
      log: StepLog,
      run: () => Promise<Record<string, string>>,
    ) => Promise<Record<string, string>>;
  };
}

/**
 * One host's package steps run one at a time: two apt-get runs at once (the Docker, etcd and
 * registry installs) race on apt's package cache ("Problem renaming the file pkgcache.bin"), which no apt
 * lock covers.
 */
export function withHostPackageLock<T>(
  target: { connection: SshConnectionArgs },
  body: () => Promise<T>,
): Promise<T> {
  return withProcessLock(`packages:${target.connection.host}:${target.connection.port}`, body);
}

/**
 * The provider of a package install step over SSH (Docker, etcd): the idempotent script runs on
 * create and again on update; delete removes the packages only when asked to.
 */
export function packageInstallProvider<Outputs extends PackageInstallInputs>(
  spec: PackageInstallSpec<Outputs>,
): pulumi.dynamic.ResourceProvider<PackageInstallInputs, Outputs> {
  const install = async (inputs: PackageInstallInputs, olds?: Outputs): Promise<Outputs> => {
    const upgrade = olds !== undefined && upgradeRequested(olds, inputs) ? spec.upgrade : undefined;
    const result = await withHostPackageLock(inputs, () =>
      runRemoteStep(
        inputs,
        upgrade ? `upgrade ${spec.what}` : `install ${spec.what}`,
        (client, log) =>
          upgrade
            ? upgrade.wrap(client, log, () =>
                runScript(client, inputs.script, { ...inputs.env, ...upgrade.env }, log),
              )
            : runScript(client, inputs.script, inputs.env, log),
        { kind: "install" },
      ),
    );
    // The last request stays in the state; none at all stays absent (undefined is no value there).
    const upgradeRequest = inputs.upgradeRequest ?? olds?.upgradeRequest;
    return spec.outputs(
      upgradeRequest === undefined ? inputs : { ...inputs, upgradeRequest },
      result,
    );
  };
  const provider = remoteStepProvider<PackageInstallInputs, Outputs>({
    id: (inputs) => `${inputs.host}-${spec.what}-install`,
    updateKeys: UPDATE_KEYS,
    apply: install,
    probe: () => spec.probe,
    remove: async (props) => {
      if (!props.removeOnDestroy) return;
      await withHostPackageLock(props, () =>
        runUndoStep(
          props,
          `remove ${spec.what}`,
          (client, log) =>
            runScript(client, props.script, { ...props.env, [spec.actionVariable]: "remove" }, log),
          { kind: "install" },
        ),
      );
    },
  });
  return {
    ...provider,
    async diff(id, olds, news) {
      const diff = await provider.diff!(id, olds, news);
      return upgradeRequested(olds, news) ? { ...diff, changes: true } : diff;
    },
  };
}

/** A new upgrade request: one that differs from the last (an absent one asks for nothing). */
function upgradeRequested(olds: PackageInstallInputs, news: PackageInstallInputs): boolean {
  return news.upgradeRequest !== undefined && news.upgradeRequest !== olds.upgradeRequest;
}
