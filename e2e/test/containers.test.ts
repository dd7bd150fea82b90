// The shared multi-host scenarios with every sharc service in its own container, all from the
// one sharc image (see e2e/README.md). Needs a container engine: `npm run e2e` starts a private
// one (e2e/scripts/with-dockerd.sh); SHARC_E2E_CONTAINERS=skip skips this suite on purpose.
import { test } from 'node:test';
import { containerEngineProblem, startContainerCluster } from '../src/containers-backend.js';
import { describeScenarios } from '../src/scenarios.js';

const SUITE = 'sharc on separate hosts (containers)';
const skipAsked = process.env.SHARC_E2E_CONTAINERS === 'skip';
const problem = skipAsked ? undefined : await containerEngineProblem();

if (skipAsked) {
  test(SUITE, { skip: 'SHARC_E2E_CONTAINERS=skip: the containers backend was not run' }, () => {});
} else if (problem !== undefined) {
  test(SUITE, () => {
    throw new Error(
      `${problem}.\n` +
        'Run this suite with `npm run e2e`, which starts a private Docker engine for it ' +
        '(e2e/scripts/with-dockerd.sh, as root), or start Docker / point DOCKER_HOST at a running engine. ' +
        'To skip it on purpose, set SHARC_E2E_CONTAINERS=skip.',
    );
  });
} else {
  describeScenarios('containers', () => startContainerCluster());
}
