declare const __SIDECAR_VERSION__: string | undefined;

/** The release version, set by the bundler; "devel" when run from source. */
export const sidecarVersion: string = typeof __SIDECAR_VERSION__ === 'string' ? __SIDECAR_VERSION__ : 'devel';
