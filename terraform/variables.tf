variable "region" {
  description = "AWS region of the machine."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name tag and prefix of every resource."
  type        = string
  default     = "kernel-builder"
}

variable "instance_type" {
  description = "EC2 instance type. A GPU type (g6.*: NVIDIA L4) lets the machine run CUDA tests too; builds need no GPU."
  type        = string
  default     = "g6.4xlarge"
}

variable "nixos_release" {
  description = "NixOS release of the official AMI (owner 427812963091), e.g. \"25.11\"."
  type        = string
  default     = "25.11"
}

variable "root_volume_gib" {
  description = "Size of the root volume (the system without the Nix store)."
  type        = number
  default     = 64
}

variable "nix_volume_gib" {
  description = "Size of the data volume holding /nix (CUDA/ROCm toolchains and every torch version need hundreds of GiB)."
  type        = number
  default     = 1024
}

variable "nix_volume_iops" {
  description = "Provisioned IOPS of the gp3 Nix store volume."
  type        = number
  default     = 6000
}

variable "ssh_public_key" {
  description = "OpenSSH public key for the `builder` user (prefer a hardware-backed key, see the Security guide)."
  type        = string
}

variable "allowed_ssh_cidrs" {
  description = "CIDR blocks allowed to reach SSH."
  type        = list(string)
  default     = []
}

variable "substituters" {
  description = "Extra binary caches (URL and public key), added to cache.nixos.org."
  type = list(object({
    url = string
    key = string
  }))
  default = []
}

variable "max_jobs" {
  description = "Nix max-jobs (parallel derivation builds); \"auto\" = number of CPUs."
  type        = string
  default     = "auto"
}

variable "subnet_id" {
  description = "Subnet to launch into (default VPC's default subnet when null)."
  type        = string
  default     = null
}
