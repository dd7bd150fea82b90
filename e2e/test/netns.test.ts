// The shared multi-host scenarios on Linux network namespaces (needs root and `ip`; see e2e/README.md).
import { describeScenarios } from '../src/scenarios.js';
import { startNetnsCluster } from '../src/netns-backend.js';

describeScenarios('network namespaces', () => startNetnsCluster());
