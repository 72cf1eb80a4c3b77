// Where the Docker daemon listens: `DOCKER_HOST` as the Docker CLI reads it (unix:// and tcp://),
// default `unix:///var/run/docker.sock`.

/** The socket the Docker CLI uses when DOCKER_HOST is unset. */
export const DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";

/** The port the Docker CLI uses for `tcp://host` without one (plain HTTP). */
const DEFAULT_TCP_PORT = 2375;

/** A daemon endpoint. `display` is how errors name it (the DOCKER_HOST value, normalised). */
export type DaemonEndpoint =
  | { readonly kind: "unix"; readonly socketPath: string; readonly display: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number; readonly display: string };

/** DOCKER_HOST names something this client cannot reach (an unknown scheme, no path, a bad port). */
export class DockerHostError extends Error {
  override name = "DockerHostError";
}

/** Parses a DOCKER_HOST value (`unix:///path`, `tcp://host[:port]`); empty or undefined means the default socket. */
export function parseDockerHost(value: string | undefined): DaemonEndpoint {
  const raw = value === undefined || value.trim() === "" ? DEFAULT_DOCKER_HOST : value.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) throw new DockerHostError(`invalid DOCKER_HOST '${raw}': expected unix:///path or tcp://host:port`);
  const rest = raw.slice(scheme.length + 3);
  if (scheme === "unix") {
    if (!rest.startsWith("/")) throw new DockerHostError(`invalid DOCKER_HOST '${raw}': a unix socket needs an absolute path`);
    return { kind: "unix", socketPath: rest, display: `unix://${rest}` };
  }
  if (scheme === "tcp" || scheme === "http") {
    const hostPort = rest.replace(/\/+$/, "");
    if (hostPort.includes("/")) throw new DockerHostError(`invalid DOCKER_HOST '${raw}': a path prefix is not supported`);
    const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d*))?$/.exec(hostPort);
    if (!match?.[1]) throw new DockerHostError(`invalid DOCKER_HOST '${raw}': expected tcp://host:port`);
    const port = match[2] === undefined || match[2] === "" ? DEFAULT_TCP_PORT : Number(match[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DockerHostError(`invalid DOCKER_HOST '${raw}': bad port`);
    const host = match[1];
    return { kind: "tcp", host, port, display: `tcp://${host}:${port}` };
  }
  throw new DockerHostError(`unsupported DOCKER_HOST '${raw}': only unix:// and tcp:// daemons are supported (not ${scheme}://)`);
}
