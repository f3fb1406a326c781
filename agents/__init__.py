"""Learning agents for FGAMCD: MAASN-DA, QMIX-DA, their ESN data augmentation and ablations."""
