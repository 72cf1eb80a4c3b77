// Realistic platform files shared by the tests (shapes from contract §3 and §4.2).

/** A lifecycle metadata label as the Go exporter writes it (compact, Go field order, sorted maps). */
export const GO_LIFECYCLE_LABEL =
  '{"app":[{"sha":"sha256:a1"},{"sha":"sha256:a2"}],"sbom":{"sha":"sha256:b0"},' +
  '"buildpacks":[{"key":"acme/node","version":"1.2.3","layers":{' +
  '"modules":{"sha":"sha256:c1","data":null,"build":false,"launch":true,"cache":false},' +
  '"node":{"sha":"sha256:c0","data":{"url":"https://dl.example/node?arch=x64\\u0026v=20","version":"20.11.0"},"build":false,"launch":true,"cache":true}},' +
  '"store":{"metadata":{"counter":3,"nested":{"a":1,"b":[1,2]}}}},' +
  '{"key":"acme/npm","version":"0.9.0","layers":{}}],' +
  '"config":{"sha":"sha256:d0"},"launcher":{"sha":"sha256:e0"},"process-types":{"sha":"sha256:f0"},' +
  '"runImage":{"topLayer":"sha256:90","reference":"mirror.example.com/acme/run@sha256:2222","image":"acme/run:jammy","mirrors":["mirror.example.com/acme/run:jammy"]},' +
  '"stack":{"runImage":{"image":"acme/run:jammy","mirrors":["mirror.example.com/acme/run:jammy"]}}}';

/** analyzed.toml as the Go analyzer + restorer write it (BurntSushi indentation, floats from JSON). */
export const GO_ANALYZED_TOML = `[image]
  reference = "index.docker.io/acme/app@sha256:1111"

[build-image]
  reference = "index.docker.io/acme/build@sha256:3333"

[metadata]
  [[metadata.app]]
    sha = "sha256:a1"
  [[metadata.app]]
    sha = "sha256:a2"
  [metadata.sbom]
    sha = "sha256:b0"

  [[metadata.buildpacks]]
    key = "acme/node"
    version = "1.2.3"
    [metadata.buildpacks.layers]
      [metadata.buildpacks.layers.node]
        sha = "sha256:c0"
        build = false
        launch = true
        cache = true
        [metadata.buildpacks.layers.node.metadata]
          version = "20.11.0"
    [metadata.buildpacks.store]
      [metadata.buildpacks.store.metadata]
        counter = 3.0
  [metadata.config]
    sha = "sha256:d0"
  [metadata.launcher]
    sha = "sha256:e0"
  [metadata.process-types]
    sha = "sha256:f0"
  [metadata.run-image]
    top-layer = "sha256:90"
    reference = "index.docker.io/acme/run@sha256:2222"
    image = "acme/run:jammy"
    mirrors = ["mirror.example.com/acme/run:jammy"]
  [metadata.stack]
    [metadata.stack.run-image]
      image = "acme/run:jammy"
      mirrors = ["mirror.example.com/acme/run:jammy"]

[run-image]
  reference = "mirror.example.com/acme/run@sha256:2222"
  image = "mirror.example.com/acme/run:jammy"
  extend = true
  [run-image.target]
    id = "io.acme.jammy"
    os = "linux"
    arch = "arm64"
    arch-variant = "v8"
    [run-image.target.distro]
      name = "ubuntu"
      version = "22.04"
`;
