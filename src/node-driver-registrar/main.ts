import { refuseToRun } from '../shared/cli/not-yet-available.js';

refuseToRun('csi-node-driver-registrar', 'a later issue');
