_base_ = './fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024.py'
# GPU training: the backbone replays CUDA-graph recordings (hrnet_mm.HRNet(cuda_graph=True)) and the
# step runs in fp16 autocast with dynamic loss scaling. On a CPU the backbone runs eagerly.
model = dict(backbone=dict(cuda_graph=True))
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
