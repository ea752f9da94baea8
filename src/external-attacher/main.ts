import { refuseToRun } from '../shared/cli/not-yet-available.js';

refuseToRun('csi-attacher', 'a later issue');
